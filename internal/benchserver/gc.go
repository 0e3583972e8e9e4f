package benchserver

import (
	"bufio"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
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
	lines := bufio.NewReader(in)
	for {
		line, err := lines.ReadString('\n')
		if parts := gcLine.FindStringSubmatch(line); parts != nil {
			t.add(parts[1:])
		} else if line != "" {
			_, _ = io.WriteString(out, line)
		}
		if err != nil {
			return // the server's end
		}
	}
}

// add counts a cycle whose CPU is the sum of parts, in milliseconds.
func (t *gcTrace) add(parts []string) {
	var ms float64
	for _, part := range parts {
		value, _ := strconv.ParseFloat(part, 64)
		ms += value
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.total.Cycles++
	t.total.CPU += time.Duration(ms * float64(time.Millisecond))
}

func (t *gcTrace) get() GC {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.total
}

// GC is what the server's garbage collector has done so far: the cycles
// whose trace line the runtime has written, at each cycle's end. The CPU
// is the trace's (its pauses counted on every processor), without the
// sweeping and the returning of memory that follow a cycle.
func (s *Server) GC() GC { return s.gc.get() }

// withGCTrace sets GODEBUG=gctrace=1 in env, keeping the other GODEBUG
// settings env has (its last GODEBUG is the one a process gets).
func withGCTrace(env []string) []string {
	debug := "gctrace=1"
	for _, variable := range slices.Backward(env) {
		if current, ok := strings.CutPrefix(variable, "GODEBUG="); ok {
			if current != "" {
				debug = current + "," + debug
			}
			break
		}
	}
	return append(env, "GODEBUG="+debug)
}
