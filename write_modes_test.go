package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/internal/testsupport"
)

// The tests of this file stop or kill the server while it writes, and
// read what survived from its SQLite file once it is stopped.

// writingServer is a server of the distribution (not in dev mode: no SQL
// log) on a free port.
func writingServer(t *testing.T) (dir, url string, server *run) {
	t.Helper()
	port := testsupport.FreePort(t)
	dir = workDir(t, fmt.Sprintf(`{"port": %d, "logLevel": "warn"}`, port))
	url = baseURL(port)
	server = start(t, dir, nil, "serve", "--dev=false")
	server.waitHealthy(t, url)
	return dir, url, server
}

// produceEvents sends deferred events from producers until stop is
// closed or the server stops answering, and returns the names of the
// events whose POST was accepted (202), and how many were sent without an
// answer (in flight when the server went away).
func produceEvents(url string, producers int, stop <-chan struct{}) (accepted map[string]bool, unanswered int) {
	var mu sync.Mutex
	accepted = map[string]bool{}
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for request := 0; ; request++ {
				select {
				case <-stop:
					return
				default:
				}
				var events []map[string]any
				for i := range 20 {
					events = append(events, map[string]any{"name": fmt.Sprintf("p%d-r%d-e%d", p, request, i)})
				}
				body, _ := json.Marshal(map[string]any{"events": events})
				res, err := http.Post(url+"/api/events", "application/json", bytes.NewReader(body))
				mu.Lock()
				if err != nil {
					unanswered += len(events)
					mu.Unlock()
					return
				}
				res.Body.Close()
				if res.StatusCode == http.StatusAccepted {
					for _, e := range events {
						accepted[e["name"].(string)] = true
					}
				}
				mu.Unlock()
				if res.StatusCode != http.StatusAccepted {
					return
				}
			}
		})
	}
	wg.Wait()
	return accepted, unanswered
}

// storedEventNames reads the events' names from a stopped server's data.
func storedEventNames(t *testing.T, dir string) []string {
	t.Helper()
	app := core.NewBaseApp(core.BaseAppConfig{DataDir: filepath.Join(dir, "pb_data")})
	if err := app.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	defer app.ResetBootstrapState()
	var names []string
	if err := app.DB().NewQuery("SELECT name FROM events").Column(&names); err != nil {
		t.Fatal(err)
	}
	return names
}

// checkEvents: every accepted event is stored once, and the others stored
// are at most the unanswered ones.
func checkEvents(t *testing.T, stored []string, accepted map[string]bool, unanswered int) {
	t.Helper()
	seen := map[string]int{}
	extra := 0
	for _, name := range stored {
		seen[name]++
		if seen[name] == 2 {
			t.Errorf("event %s stored twice", name)
		}
		if !accepted[name] && seen[name] == 1 {
			extra++
		}
	}
	for name := range accepted {
		if seen[name] == 0 {
			t.Errorf("accepted event %s is lost", name)
		}
	}
	if extra > unanswered {
		t.Errorf("%d events stored that were not accepted, more than the %d left unanswered", extra, unanswered)
	}
	t.Logf("%d accepted, %d stored, %d unanswered", len(accepted), len(stored), unanswered)
	if len(accepted) == 0 {
		t.Fatal("no event was accepted before the stop")
	}
}

func TestAGracefulStopKeepsEveryAcceptedDeferredWrite(t *testing.T) {
	dir, url, server := writingServer(t)
	stop := make(chan struct{})
	go func() {
		time.Sleep(time.Second)
		_ = server.cmd.Process.Signal(syscall.SIGTERM)
		close(stop)
	}()
	accepted, unanswered := produceEvents(url, 4, stop)
	if code := server.waitExit(t); code != 0 {
		t.Fatalf("SIGTERM: exit code %d:\n%s", code, server.output)
	}
	// drained on the stop: no restart needed
	checkEvents(t, storedEventNames(t, dir), accepted, unanswered)
}

func TestAKilledServerKeepsEveryAcceptedDeferredWrite(t *testing.T) {
	dir, url, server := writingServer(t)
	stop := make(chan struct{})
	go func() {
		time.Sleep(time.Second)
		_ = server.cmd.Process.Kill() // kill -9: no drain
		close(stop)
	}()
	accepted, unanswered := produceEvents(url, 4, stop)
	server.waitExit(t)

	// the restart replays the journal; its graceful stop drains it
	restarted := start(t, dir, nil, "serve", "--dev=false")
	restarted.waitHealthy(t, url)
	restarted.stop(t)
	checkEvents(t, storedEventNames(t, dir), accepted, unanswered)
}

func TestAKilledServerKeepsAllOrNoneOfALargeUnit(t *testing.T) {
	dir, url, server := writingServer(t)
	const size = 10_000
	ops := make([]map[string]any, size)
	for i := range ops {
		ops[i] = map[string]any{"op": "create", "collection": "events", "data": map[string]any{"name": fmt.Sprintf("unit-%d", i)}}
	}
	body, _ := json.Marshal(map[string]any{"ops": ops})
	answered := make(chan int, 1)
	go func() {
		res, err := http.Post(url+"/api/hapta/batch", "application/json", bytes.NewReader(body))
		if err != nil {
			answered <- 0
			return
		}
		res.Body.Close()
		answered <- res.StatusCode
	}()
	time.Sleep(700 * time.Millisecond) // into the transaction
	_ = server.cmd.Process.Kill()
	server.waitExit(t)
	status := <-answered

	restarted := start(t, dir, nil, "serve", "--dev=false")
	restarted.waitHealthy(t, url)
	restarted.stop(t)
	stored := len(storedEventNames(t, dir))
	t.Logf("the batch answered %d before the kill; %d of %d events stored", status, stored, size)
	if stored != 0 && stored != size {
		t.Fatalf("%d of the unit's %d events stored: not all or none", stored, size)
	}
	if status == http.StatusOK && stored != size {
		t.Fatalf("the unit was answered 200 but %d events are stored", stored)
	}
}
