package benchserver

import (
	"bytes"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

// collectTwice, in the environment of the test binary run again by
// TestGCTraceCountsARealProcesssCycles, makes that process write a line
// of its own on standard error and collect twice, then exit.
const collectTwice = "BENCHSERVER_TEST_COLLECT_TWICE"

func TestMain(m *testing.M) {
	if os.Getenv(collectTwice) != "" {
		// first: the runtime may print a cycle's trace after runtime.GC
		// returns, and a write beside it would split its line
		os.Stderr.WriteString("collecting twice\n")
		runtime.GC()
		runtime.GC()
		time.Sleep(100 * time.Millisecond) // the second cycle's line printed
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestGCTraceCountsARealProcesssCycles(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(os.Args[0])
	cmd.Env = withGCTrace(append(os.Environ(), collectTwice+"=1"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var trace gcTrace
	var passed bytes.Buffer
	trace.read(stderr, &passed)
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}

	got := trace.get()
	// the runtime may collect on its own too, before main
	if got.Cycles < 2 {
		t.Errorf("counted %d cycles, want at least the 2 forced", got.Cycles)
	}
	if got.CPU <= 0 {
		t.Errorf("the cycles' CPU is %v, want more than 0", got.CPU)
	}
	if passed.String() != "collecting twice\n" {
		t.Errorf("passed on %q, want the process's own line alone", passed.String())
	}
}

func TestGCTraceSumsEveryPartOfACyclesCPU(t *testing.T) {
	t.Parallel()
	var trace gcTrace
	var passed strings.Builder
	trace.read(strings.NewReader(
		"gc 207 @28.020s 5%: 0.48+520+0.23 ms clock, 0.97+495/277/1.5+0.47 ms cpu, 434->438->217 MB, 500 MB goal, 66 MB stacks, 0 MB globals, 2 P\n"+
			"a log line\n"), &passed)
	got := trace.get()
	if want := 0.97 + 495 + 277 + 1.5 + 0.47; got.Cycles != 1 || math.Abs(got.CPU.Seconds()*1000-want) > 1e-6 {
		t.Errorf("got %+v, want 1 cycle of %v ms", got, want)
	}
	if passed.String() != "a log line\n" {
		t.Errorf("passed on %q", passed.String())
	}
}

func TestGCTracePassesOnALongLineWhole(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 3<<20) + "\n"
	var trace gcTrace
	var passed strings.Builder
	trace.read(strings.NewReader(long+"gc 1 @0.1s 1%: 0+1+0 ms clock, 1+2/3/4+5 ms cpu, 4->4->0 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P (forced)\nlast words"), &passed)
	if passed.String() != long+"last words" {
		t.Errorf("passed on %d bytes, want the long line and the last words (%d)", passed.Len(), len(long)+len("last words"))
	}
	if got := trace.get(); got.Cycles != 1 || got.CPU != 15*time.Millisecond {
		t.Errorf("got %+v after the long line, want the cycle of 15ms", got)
	}
}

func TestWithGCTraceKeepsTheOtherSettings(t *testing.T) {
	t.Parallel()
	env := withGCTrace([]string{"A=1", "GODEBUG=madvdontneed=1", "GODEBUG=http2debug=1"})
	if got := env[len(env)-1]; got != "GODEBUG=http2debug=1,gctrace=1" {
		t.Errorf("got %q, want the last GODEBUG's settings and gctrace", got)
	}
	if got := withGCTrace([]string{"A=1"}); got[len(got)-1] != "GODEBUG=gctrace=1" {
		t.Errorf("got %q", got)
	}
}
