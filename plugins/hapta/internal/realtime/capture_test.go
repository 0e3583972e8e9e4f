package realtime

import (
	"testing"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"

	"github.com/postr-inc/hapta/internal/testsupport"
)

// Two deletes of one record at once (a double click) send its delete: the
// second, begun before the first committed, does not take the first's
// place.
func TestTwoDeletesOfOneRecordAtOnceSendItsDelete(t *testing.T) {
	t.Parallel()
	app, _, base := served(t, Options{}, "")
	stream := subscribed(t, base, "", "notes/*")
	record := testsupport.SaveRecord(t, app, "notes", map[string]any{"title": "a"})
	if got := next(t, stream); got != "create a" {
		t.Fatalf("got %q", got)
	}
	first, err := app.FindRecordById("notes", record.Id)
	if err != nil {
		t.Fatal(err)
	}
	second, err := app.FindRecordById("notes", record.Id)
	if err != nil {
		t.Fatal(err)
	}
	// the first stops after the broadcaster's step of it, the second
	// before that step
	firstReached, secondBegun := make(chan struct{}), make(chan struct{})
	releaseFirst, releaseSecond := make(chan struct{}), make(chan struct{})
	app.OnModelDelete().Bind(&hook.Handler[*core.ModelEvent]{Priority: 100, Func: func(e *core.ModelEvent) error {
		if e.Model == first {
			close(firstReached)
			<-releaseFirst
		}
		return e.Next()
	}})
	app.OnModelDelete().Bind(&hook.Handler[*core.ModelEvent]{Priority: 50, Func: func(e *core.ModelEvent) error {
		if e.Model == second {
			close(secondBegun)
			<-releaseSecond
		}
		return e.Next()
	}})
	errs := make(chan error, 2)
	go func() { errs <- app.Delete(first) }()
	<-firstReached
	go func() { errs <- app.Delete(second) }()
	<-secondBegun
	close(releaseFirst)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	close(releaseSecond)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if got := next(t, stream); got != "delete a" {
		t.Fatalf("got %q", got)
	}
}

// An enrich hook that writes (a log of what was seen) stops neither the
// broadcaster nor the writes: its write, made on the broadcaster's own
// worker, waits neither for its event nor for a snapshot.
func TestAnEnrichHookThatWritesDoesNotHoldTheWrites(t *testing.T) {
	t.Parallel()
	app, _, base := served(t, Options{Snapshots: 1}, "")
	app.OnRecordEnrich("notes").BindFunc(func(e *core.RecordEnrichEvent) error {
		if e.Record.GetString("title") == "a" {
			notes, err := e.App.FindCollectionByNameOrId("notes")
			if err != nil {
				return err
			}
			seen := core.NewRecord(notes)
			seen.Set("title", "seen")
			if err := e.App.Save(seen); err != nil {
				return err
			}
		}
		return e.Next()
	})
	stream := subscribed(t, base, "", "notes/*")
	saveNoteWithin10s(t, app, "a", "the write waits for its event, whose enrich hook's write waits for the broadcaster")
	for _, want := range []string{"create a", "create seen"} {
		if got := next(t, stream); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}
