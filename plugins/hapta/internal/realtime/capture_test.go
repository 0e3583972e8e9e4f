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

// An enrich hook that writes (a log of what was seen, the removal of what
// it replaces) stops neither the broadcaster nor the writes: its writes,
// made on the broadcaster's own worker, wait neither for their events nor
// for a snapshot.
func TestAnEnrichHookThatWritesDoesNotHoldTheWrites(t *testing.T) {
	t.Parallel()
	app, _, base := served(t, Options{Snapshots: 1}, "")
	old := testsupport.SaveRecord(t, app, "notes", map[string]any{"title": "old"})
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
			replaced, err := e.App.FindRecordById(notes, old.Id)
			if err != nil {
				return err
			}
			if err := e.App.Delete(replaced); err != nil {
				return err
			}
		}
		return e.Next()
	})
	stream := subscribed(t, base, "", "notes/*")
	saveNoteWithin10s(t, app, "a", "the write waits for its event, whose enrich hook's writes wait for the broadcaster")
	for _, want := range []string{"create a", "create seen", "delete old"} {
		if got := next(t, stream); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	saveNoteWithin10s(t, app, "after", "the broadcaster hangs on its own delete")
	if got := next(t, stream); got != "create after" {
		t.Fatalf("got %q", got)
	}
}

// noteModel is a custom model struct of a collection's table, which
// PocketBase's realtime reads back as a record.
type noteModel struct {
	core.BaseModel
	Title string `db:"title"`
}

func (*noteModel) TableName() string { return "notes" }

// A write through a custom model struct is broadcast as its record, as in
// PocketBase (a token key changed through one: see
// TestASubscriberWhoseTokenWasRevokedStopsReceiving).
func TestAWriteThroughACustomModelIsBroadcastAsItsRecord(t *testing.T) {
	t.Parallel()
	app, _, base := served(t, Options{}, "")
	stream := subscribed(t, base, "", "notes/*")
	note := &noteModel{Title: "public"}
	note.Id = "custommodel0001"
	if err := app.Save(note); err != nil {
		t.Fatal(err)
	}
	if got := next(t, stream); got != "create public" {
		t.Fatalf("got %q for a note saved through a custom model", got)
	}
}
