package hapta

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/postr-inc/hapta/internal/testsupport"
	"github.com/postr-inc/hapta/plugins/hapta/internal/journal"
)

// eventsApp is hapta on dataDir with an events collection (anyone may
// create; name unique, so a doubled op would be refused and recorded), a
// logs collection (no unique name) and the given deferred-write limits,
// bootstrapped and served; it is terminated when the test ends.
func eventsApp(t *testing.T, dataDir string, limits DeferLimits, before ...func(core.App)) core.App {
	t.Helper()
	app, err := deferApp(t, dataDir, limits, before...)
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// deferApp is eventsApp answering the error of a refused start.
func deferApp(t *testing.T, dataDir string, limits DeferLimits, before ...func(core.App)) (core.App, error) {
	t.Helper()
	app := core.NewBaseApp(core.BaseAppConfig{DataDir: dataDir})
	if _, err := register(app, nil, Config{ConfigFile: writeConfig(t, `{"logLevel": "error"}`).path, Defer: limits}, &testsupport.SyncBuffer{}); err != nil {
		t.Fatal(err)
	}
	if err := app.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"events", "logs"} {
		if _, err := app.FindCollectionByNameOrId(name); err == nil {
			continue
		}
		c := core.NewBaseCollection(name)
		c.Fields.Add(&core.TextField{Name: "name", Required: true}, &core.NumberField{Name: "n"})
		if name == "events" {
			c.AddIndex("idx_events_name", true, "name", "")
		}
		c.CreateRule = types.Pointer("")
		if err := app.Save(c); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range before {
		b(app)
	}
	t.Cleanup(func() { testsupport.Terminate(app) })
	_, err := testsupport.Serve(t, app)
	return app, err
}

// stopsWithin terminates app and tells whether that returned within d.
func stopsWithin(app core.App, d time.Duration) bool {
	done := make(chan struct{})
	go func() { testsupport.Terminate(app); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
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

// PocketBase reports an after-commit hook's error with the transaction's
// result: the committed group is not applied again, and a unit that
// committed is not reported undone.
func TestAFailingAfterCommitHookDoesNotUndoOrRedoAWrite(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	app := eventsApp(t, t.TempDir(), DeferLimits{GroupDelay: time.Millisecond}, func(app core.App) {
		app.OnRecordAfterCreateSuccess("logs").BindFunc(func(e *core.RecordEvent) error {
			if err := e.Next(); err != nil {
				return err
			}
			if calls.Add(1) <= 2 {
				return errors.New("notify failed")
			}
			return nil
		})
	})
	if err := ServicesOf(app).DB.Defer(WriteOp{Op: "create", Collection: "logs", Data: map[string]any{"name": "deferred"}}); err != nil {
		t.Fatal(err)
	}
	waitForCount(t, app, "logs", 1)
	unit := ServicesOf(app).DB.AsSystem().Begin()
	unit.Create("logs", map[string]any{"name": "unit"})
	if _, err := unit.SaveChanges(); err != nil {
		t.Fatalf("a committed unit reported: %v", err)
	}
	time.Sleep(1500 * time.Millisecond) // past the writer's retry pause
	if n, _ := app.CountRecords("logs"); n != 2 {
		t.Fatalf("%d logs, want the deferred one and the unit's, once each", n)
	}
}

// A refused op too large to keep whole is kept without its data; the
// writer goes on and stops.
func TestARefusedOpTooLargeToKeepDoesNotWedgeTheWriter(t *testing.T) {
	t.Parallel()
	app := eventsApp(t, t.TempDir(), DeferLimits{GroupDelay: time.Millisecond})
	db := ServicesOf(app).DB
	big := strings.Repeat("x", 1_200_000) // refused: over the text field's 5,000
	if err := db.Defer(WriteOp{Op: "create", Collection: "events", Data: map[string]any{"name": big}}); err != nil {
		t.Fatal(err)
	}
	if err := db.Defer(event("after", 1)); err != nil {
		t.Fatal(err)
	}
	waitForCount(t, app, "events", 1)
	waitForCount(t, app, DeferredFailures, 1)
	if !stopsWithin(app, 5*time.Second) {
		t.Fatal("the stop did not return")
	}
}

// A journal record that cannot be read refuses the start; Defer then
// answers ErrDeferStopped, and a stop returns.
func TestAnUnreadableJournalRefusesTheStart(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	j, _, err := journal.Open(filepath.Join(dataDir, journalDir), 0, journalSegment)
	if err != nil {
		t.Fatal(err)
	}
	j.Append([]byte(`not json`))
	j.Close()
	app, err := deferApp(t, dataDir, DeferLimits{})
	if err == nil {
		t.Fatal("the start went on over an unreadable journal")
	}
	if err := ServicesOf(app).DB.Defer(event("zombie", 1)); !errors.Is(err, ErrDeferStopped) {
		t.Fatalf("Defer after a refused start: %v", err)
	}
	if err := pluginOf(app).deferred.start(); err == nil {
		t.Fatal("a second start went on")
	}
	if !stopsWithin(app, 3*time.Second) {
		t.Fatal("the stop did not return")
	}
}

// A number missing from the journal (a write that failed, never
// acknowledged) is passed over: the ops after it are applied.
func TestAGapInTheJournalIsPassedOver(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	payload := func(name string) []byte { p, _ := json.Marshal(deferredOp{WriteOp: event(name, 0)}); return p }
	j, _, _ := journal.Open(filepath.Join(dataDir, journalDir), 0, journalSegment)
	j.Append(payload("one")) // 1
	j.Close()
	j, _, _ = journal.Open(filepath.Join(dataDir, journalDir), 2, journalSegment)
	j.Append(payload("three")) // 3: 2 is missing
	j.Close()

	app := eventsApp(t, dataDir, DeferLimits{GroupDelay: time.Millisecond})
	if err := ServicesOf(app).DB.Defer(event("later", 0)); err != nil {
		t.Fatal(err)
	}
	waitForCount(t, app, "events", 3)
}

// PocketBase's rate limits slow the writer (its ops count against the
// server's own address), and their 429 is retried, not recorded as a
// refusal: nothing is dropped.
func TestRateLimitsDoNotDropDeferredOps(t *testing.T) {
	t.Parallel()
	app := eventsApp(t, t.TempDir(), DeferLimits{GroupDelay: time.Millisecond}, func(app core.App) {
		settings := app.Settings()
		settings.RateLimits.Enabled = true
		settings.RateLimits.Rules = []core.RateLimitRule{{Label: "*:create", MaxRequests: 2, Duration: 1}}
		if err := app.Save(settings); err != nil {
			t.Fatal(err)
		}
	})
	for i := range 5 {
		if err := ServicesOf(app).DB.Defer(WriteOp{Op: "create", Collection: "logs", Data: map[string]any{"name": "x", "n": i}}); err != nil {
			t.Fatal(err)
		}
	}
	waitForCount(t, app, "logs", 5)
	if n, _ := app.CountRecords(DeferredFailures); n != 0 {
		t.Fatalf("%d ops recorded as refused", n)
	}
}
