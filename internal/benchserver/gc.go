package benchserver

import (
	"bufio"
	"io"
	"os"
	"regexp"
	"strconv"
	"sync"
	"time"
)

// GC is what the server's garbage collector has done since it started.
type GC struct {
	Cycles int
	CPU    time.Duration // all of the cycles' CPU: pauses, assists, background and idle marking
}

// gcTrace reads the server's standard error, where GODEBUG=gctrace=1 has
// the runtime write one line per cycle, sums the cycles and passes every
// other line on to out. The runtime does not order its trace with the
// process's own writes: a cycle whose line another write split is not
// counted (the benchmarks' servers write next to nothing there).
type gcTrace struct {
	mu    sync.Mutex
	total GC
}

// gcLine is a cycle's line; its CPU is "a+b/c/d+e ms cpu" (pauses,
// assist/background/idle marking).
var gcLine = regexp.MustCompile(`^gc \d+ @.* ([\d.]+)\+([\d.]+)/([\d.]+)/([\d.]+)\+([\d.]+) ms cpu,`)

func (t *gcTrace) read(in io.Reader, out io.Writer) {
	lines := bufio.NewScanner(in)
	lines.Buffer(make([]byte, 64<<10), 1<<20)
	for lines.Scan() {
		line := lines.Text()
		parts := gcLine.FindStringSubmatch(line)
		if parts == nil {
			_, _ = io.WriteString(out, line+"\n")
			continue
		}
		var ms float64
		for _, part := range parts[1:] {
			value, _ := strconv.ParseFloat(part, 64)
			ms += value
		}
		t.mu.Lock()
		t.total.Cycles++
		t.total.CPU += time.Duration(ms * float64(time.Millisecond))
		t.mu.Unlock()
	}
	_, _ = io.Copy(out, in) // a line too long for the scanner: the rest as it is
}

func (t *gcTrace) get() GC {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.total
}

// GC is what the server's garbage collector has done so far; its cycles
// are counted from the trace the runtime writes once the line is written,
// at the end of the cycle.
func (s *Server) GC() GC { return s.gc.get() }

// withGCTrace sets GODEBUG=gctrace=1 in env, keeping other GODEBUG
// settings of the environment.
func withGCTrace(env []string) []string {
	debug := "gctrace=1"
	if current := os.Getenv("GODEBUG"); current != "" {
		debug = current + ",gctrace=1"
	}
	return append(env, "GODEBUG="+debug)
}
