package hapta

import (
	"strconv"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/postr-inc/hapta/internal/testsupport"
)

// A list depends on the membership of its collection, the fields its
// filter, sort and rules read, and the records it shows: an update that
// changes none of them keeps it, any other drops it.
func TestAListOutlivesOnlyTheUpdatesItDoesNotRead(t *testing.T) {
	var tasks *core.Collection
	app, server := soundApp(t, []string{"tasks"}, func(app core.App) {
		tasks = newCollection(t, app, "tasks", types.Pointer("flag = true"),
			&core.TextField{Name: "title"}, &core.NumberField{Name: "n"}, &core.BoolField{Name: "flag"}, &core.TextField{Name: "note"})
	})
	records := make([]*core.Record, 6)
	for i := range records {
		records[i] = core.NewRecord(tasks)
		records[i].Set("title", "task "+strconv.Itoa(i))
		records[i].Set("n", i)
		records[i].Set("flag", true)
		if err := app.Save(records[i]); err != nil {
			t.Fatal(err)
		}
	}
	// n > 1 sorted by title: tasks 2 and 3 on the first page of two
	const list = "/api/collections/tasks/records?filter=n%3E1&sort=title&perPage=2"
	listed, unlisted := records[2], records[5]
	update := func(record *core.Record, field string, value any) {
		t.Helper()
		record.Set(field, value)
		if err := app.RunInTransaction(func(tx core.App) error { return tx.Save(record) }); err != nil {
			t.Fatal(err)
		}
	}

	cases := []struct {
		name   string
		write  func()
		header string
	}{
		{"an unread field of an unlisted record", func() { update(unlisted, "note", "unread") }, "HIT"},
		{"nothing at all", func() { update(unlisted, "note", "unread") }, "HIT"},
		{"an unread field saved outside a transaction", func() {
			unlisted.Set("note", "saved alone")
			if err := app.Save(unlisted); err != nil {
				t.Fatal(err)
			}
		}, "HIT"},
		{"an unread field of a listed record", func() { update(listed, "note", "shown") }, "MISS"},
		{"the filtered field of an unlisted record", func() { update(unlisted, "n", 7) }, "MISS"},
		{"the sorted field of an unlisted record", func() { update(unlisted, "title", "task 0") }, "MISS"},
		{"the rule's field of an unlisted record", func() { update(records[0], "flag", false) }, "MISS"},
		{"a new record", func() { update(core.NewRecord(tasks), "title", "task 1b") }, "MISS"},
		{"a deleted record", func() {
			if err := app.Delete(records[4]); err != nil {
				t.Fatal(err)
			}
		}, "MISS"},
	}
	plain := testsupport.ServePocketBase(t, app)
	for _, c := range cases {
		items(t, server, list, "", "note") // kept
		if header, _ := items(t, server, list, "", "note"); header != "HIT" {
			t.Fatalf("before %s: the list is not kept (%s)", c.name, header)
		}
		c.write()
		header, got := items(t, server, list, "", "note")
		if header != c.header {
			t.Errorf("after an update of %s: %s, want %s", c.name, header, c.header)
		}
		for _, field := range []string{"id", "note"} {
			_, got = items(t, server, list, "", field)
			if _, want := items(t, plain, list, "", field); got != want {
				t.Errorf("after an update of %s: the list's %ss are %q, PocketBase's %q", c.name, field, got, want)
			}
		}
	}
}

// Without a complete sort, SQLite returns rows in the order of the index it
// scans: a list reads the columns of its collection's indexes.
func TestAListReadsTheColumnsOfItsIndexes(t *testing.T) {
	var tasks *core.Collection
	app, server := soundApp(t, []string{"tasks"}, func(app core.App) {
		tasks = core.NewBaseCollection("tasks")
		tasks.Fields.Add(&core.TextField{Name: "status"}, &core.TextField{Name: "title"})
		tasks.ListRule = types.Pointer("")
		tasks.AddIndex("idx_tasks_status_title", false, "status, title", "")
		if err := app.Save(tasks); err != nil {
			t.Fatal(err)
		}
	})
	first := testsupport.SaveRecord(t, app, "tasks", map[string]any{"status": "open", "title": "b"})
	second := testsupport.SaveRecord(t, app, "tasks", map[string]any{"status": "open", "title": "c"})
	const list = "/api/collections/tasks/records?filter=status%3D%27open%27&perPage=1"
	items(t, server, list, "", "id")
	if header, got := items(t, server, list, "", "id"); header != "HIT" || got != first.Id {
		t.Fatalf("before: %s %q, want HIT %q", header, got, first.Id)
	}
	second.Set("title", "a") // unlisted, and not read by the filter: but indexed
	if err := app.RunInTransaction(func(tx core.App) error { return tx.Save(second) }); err != nil {
		t.Fatal(err)
	}
	_, want := items(t, testsupport.ServePocketBase(t, app), list, "", "id")
	if header, got := items(t, server, list, "", "id"); got != want || want != second.Id {
		t.Fatalf("after the indexed title moved: %s %q, PocketBase %q", header, got, want)
	}
}

// A `fields` pick may rewrite the ids (id:excerpt): such a list depends on
// every write of its collection.
func TestAListWithRewrittenIdsDependsOnEveryWrite(t *testing.T) {
	app, server := soundApp(t, []string{"notes"}, func(app core.App) {
		newCollection(t, app, "notes", types.Pointer(""), &core.TextField{Name: "title"})
	})
	note := testsupport.SaveRecord(t, app, "notes", map[string]any{"title": "old"})
	const list = "/api/collections/notes/records?fields=id:excerpt(4),title"
	items(t, server, list, "", "title")
	if header, got := items(t, server, list, "", "title"); header != "HIT" || got != "old" {
		t.Fatalf("before: %s %q", header, got)
	}
	note.Set("title", "new")
	if err := app.RunInTransaction(func(tx core.App) error { return tx.Save(note) }); err != nil {
		t.Fatal(err)
	}
	if header, got := items(t, server, list, "", "title"); got != "new" {
		t.Fatalf("after an update of the listed note: %s %q", header, got)
	}
}

// An update-execute hook may write through the app it captured rather than
// e.App, as pb_hooks' $app does: the cache's reads of the row must not
// hold the write connection around it.
func TestAnUpdateHookWritingThroughItsAppDoesNotWait(t *testing.T) {
	app, _ := soundApp(t, []string{"notes"}, func(app core.App) {
		newCollection(t, app, "notes", types.Pointer(""), &core.TextField{Name: "title"})
		newCollection(t, app, "audit", nil, &core.TextField{Name: "title"})
	})
	note := testsupport.SaveRecord(t, app, "notes", map[string]any{"title": "a"})
	app.OnRecordUpdateExecute("notes").BindFunc(func(e *core.RecordEvent) error {
		if err := e.Next(); err != nil {
			return err
		}
		testsupport.SaveRecord(t, app, "audit", map[string]any{"title": "note updated"})
		return nil
	})
	saved := make(chan error, 1)
	go func() {
		note.Set("title", "b")
		saved <- app.Save(note)
	}()
	select {
	case err := <-saved:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the update is still waiting after 10s")
	}
}

// An update that another update of the same record overlaps may write back
// a value the other changed (from a copy read before it): its fields are
// then unknown, and it counts as changing everything.
func TestAnOverlappedUpdateCountsAsChangingEverything(t *testing.T) {
	app, server := soundApp(t, []string{"tasks"}, func(app core.App) {
		newCollection(t, app, "tasks", types.Pointer(""), &core.TextField{Name: "title"}, &core.TextField{Name: "note"})
	})
	task := testsupport.SaveRecord(t, app, "tasks", map[string]any{"title": "a"})
	entered, proceed := make(chan struct{}), make(chan struct{})
	app.OnRecordUpdateExecute("tasks").BindFunc(func(e *core.RecordEvent) error {
		if e.Record.GetString("note") == "slow" {
			close(entered) // after the cache read the row, before the write
			<-proceed
		}
		return e.Next()
	})
	stale, err := app.FindRecordById("tasks", task.Id) // title "a"
	if err != nil {
		t.Fatal(err)
	}
	saved := make(chan error, 1)
	go func() {
		stale.Set("note", "slow")
		saved <- app.Save(stale) // writes title "a" back
	}()
	<-entered
	task.Set("title", "b")
	if err := app.Save(task); err != nil {
		t.Fatal(err)
	}
	const list = "/api/collections/tasks/records?filter=title%3D%27a%27"
	items(t, server, list, "", "id") // without the task, whose title is "b" now
	if header, got := items(t, server, list, "", "id"); header != "HIT" || got != "" {
		t.Fatalf("while the slow update waits: %s %q", header, got)
	}
	close(proceed)
	if err := <-saved; err != nil {
		t.Fatal(err)
	}
	if header, got := items(t, server, list, "", "id"); got != task.Id {
		t.Fatalf("after the slow update wrote the title back: %s %q, want the task", header, got)
	}
}
