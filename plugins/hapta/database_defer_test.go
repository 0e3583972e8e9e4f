package hapta

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/postr-inc/hapta/internal/testsupport"
	"github.com/postr-inc/hapta/plugins/hapta/internal/journal"
)

// eventsApp is hapta on dataDir with an events collection (anyone may
// create; name unique, so a doubled op would be refused and recorded) and
// the given deferred-write limits, bootstrapped and served.
func eventsApp(t *testing.T, dataDir string, limits DeferLimits) core.App {
	t.Helper()
	app := core.NewBaseApp(core.BaseAppConfig{DataDir: dataDir})
	if _, err := register(app, nil, Config{ConfigFile: writeConfig(t, `{"logLevel": "error"}`).path, Defer: limits}, &testsupport.SyncBuffer{}); err != nil {
		t.Fatal(err)
	}
	if err := app.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	if _, err := app.FindCollectionByNameOrId("events"); err != nil {
		events := core.NewBaseCollection("events")
		events.Fields.Add(&core.TextField{Name: "name", Required: true}, &core.NumberField{Name: "n"})
		events.AddIndex("idx_events_name", true, "name", "")
		events.CreateRule = types.Pointer("")
		if err := app.Save(events); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := testsupport.Serve(t, app); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testsupport.Terminate(app) })
	return app
}

func event(name string, n int) WriteOp {
	return WriteOp{Op: "create", Collection: "events", Data: map[string]any{"name": name, "n": n}}
}

// waitForCount waits until collection holds want records.
func waitForCount(t *testing.T, app core.App, collection string, want int64) {
	t.Helper()
	var n int64
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var err error
		if n, err = app.CountRecords(collection); err != nil {
			t.Fatal(err)
		}
		if n >= want {
			break
		}
	}
	if n != want {
		t.Fatalf("%s holds %d records, want %d", collection, n, want)
	}
}

func TestConcurrentDeferredWritesArriveExactlyOnce(t *testing.T) {
	t.Parallel()
	producers, each := 8, 5000
	if raceDetector {
		each = 300
	}
	app := eventsApp(t, t.TempDir(), DeferLimits{})
	db := ServicesOf(app).DB
	var wg sync.WaitGroup
	errs := make(chan error, producers)
	for p := range producers {
		wg.Go(func() {
			for i := range each {
				if err := db.Defer(event(fmt.Sprintf("p%d-%d", p, i), i)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitForCount(t, app, "events", int64(producers*each))
	if n, _ := app.CountRecords(DeferredFailures); n != 0 {
		t.Fatalf("%d deferred ops were refused", n)
	}
}

// Accepted ops that a crash kept from being applied (in the journal, past
// the mark) are applied when the app starts again, once.
func TestDeferredWritesAreReplayedAfterACrash(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	first := eventsApp(t, dataDir, DeferLimits{})
	if err := ServicesOf(first).DB.Defer(event("before", 0)); err != nil {
		t.Fatal(err)
	}
	waitForCount(t, first, "events", 1)
	testsupport.Terminate(first)

	// what a process killed before its writer applied them leaves behind
	j, _, err := journal.Open(filepath.Join(dataDir, journalDir), 0, journalSegment)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		payload, _ := json.Marshal(deferredOp{WriteOp: event(fmt.Sprintf("e%d", i), i)})
		if _, err := j.Append(payload); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()

	restarted := eventsApp(t, dataDir, DeferLimits{})
	waitForCount(t, restarted, "events", 51)
	testsupport.Terminate(restarted)
	again := eventsApp(t, dataDir, DeferLimits{}) // nothing is applied twice
	time.Sleep(100 * time.Millisecond)
	if n, _ := again.CountRecords("events"); n != 51 {
		t.Fatalf("after another restart: %d events", n)
	}
	if n, _ := again.CountRecords(DeferredFailures); n != 0 {
		t.Fatalf("%d replayed ops were refused (applied twice?)", n)
	}
}

func TestAGracefulStopAppliesEveryAcceptedOp(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	app := eventsApp(t, dataDir, DeferLimits{GroupDelay: time.Hour})
	for i := range 30 {
		if err := ServicesOf(app).DB.Defer(event(fmt.Sprintf("s%d", i), i)); err != nil {
			t.Fatal(err)
		}
	}
	db := ServicesOf(app).DB
	testsupport.Terminate(app)
	if err := db.Defer(event("late", 0)); !errors.Is(err, ErrDeferStopped) {
		t.Fatalf("Defer after the stop: %v", err)
	}
	reopened := eventsApp(t, dataDir, DeferLimits{})
	if n, _ := reopened.CountRecords("events"); n != 30 {
		t.Fatalf("after the graceful stop: %d events, want 30 applied before it returned", n)
	}
}

func TestARefusedDeferredOpIsRecordedAndTheOthersApply(t *testing.T) {
	t.Parallel()
	app := eventsApp(t, t.TempDir(), DeferLimits{GroupDelay: 50 * time.Millisecond})
	db := ServicesOf(app).DB
	for i, name := range []string{"a", "b", "a", "c", ""} { // a second "a", and no name
		if err := db.Defer(event(name, i)); err != nil {
			t.Fatal(err)
		}
	}
	waitForCount(t, app, "events", 3)
	waitForCount(t, app, DeferredFailures, 2)
	failures, err := app.FindAllRecords(DeferredFailures)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range failures {
		if f.GetString("error") == "" || f.GetInt("seq") == 0 {
			t.Fatalf("a failure without its error or number: %v", f)
		}
	}
	time.Sleep(200 * time.Millisecond) // never retried
	if n, _ := app.CountRecords(DeferredFailures); n != 2 {
		t.Fatalf("%d failures recorded, want 2", n)
	}
}

func TestAFullJournalWaitsThenRefuses(t *testing.T) {
	t.Parallel()
	app := eventsApp(t, t.TempDir(), DeferLimits{GroupDelay: time.Hour, MaxPending: 300, FullWait: 50 * time.Millisecond})
	db := ServicesOf(app).DB
	accepted := 0
	var err error
	for i := range 20 {
		if err = db.Defer(event(fmt.Sprintf("f%d", i), i)); err != nil {
			break
		}
		accepted++
	}
	if !errors.Is(err, ErrDeferFull) || accepted == 0 || accepted >= 20 {
		t.Fatalf("accepted %d, then %v", accepted, err)
	}
	if err := db.Defer(WriteOp{Op: "upsert", Collection: "events"}); err == nil {
		t.Fatal("a bad op was accepted")
	}
}
