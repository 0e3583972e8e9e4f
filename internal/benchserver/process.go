package benchserver

import (
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DataDir is the server's pb_data.
func (s *Server) DataDir() string { return filepath.Join(s.dir, "pb_data") }

// RSS is the server process's resident memory in bytes (Linux), 0 when it
// cannot be read.
func (s *Server) RSS() int64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(s.cmd.Process.Pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat's times
// (100 on Linux's usual builds).
const clockTicks = 100

// CPUTime is the CPU time (user and system) the server process has used
// (Linux), 0 when it cannot be read.
func (s *Server) CPUTime() time.Duration {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(s.cmd.Process.Pid) + "/stat")
	if err != nil {
		return 0
	}
	// the fields after the command name, which is in parentheses
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	if len(fields) < 13 {
		return 0
	}
	user, _ := strconv.ParseInt(fields[11], 10, 64)
	system, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(user+system) * time.Second / clockTicks
}

// WaitIdle returns once the server has used at most one clock tick of CPU
// in 300 ms (or after 15 s, said in the log): the work of what came before
// is done.
func (s *Server) WaitIdle() {
	const period = 300 * time.Millisecond
	before := s.CPUTime()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		time.Sleep(period)
		now := s.CPUTime()
		if now-before <= time.Second/clockTicks {
			return
		}
		before = now
	}
	log.Print("benchserver: the server was still busy after 15 s of waiting for it to be quiet")
}
