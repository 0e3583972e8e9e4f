package hapta

import (
	"strconv"
	"testing"

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
		if err := app.Save(record); err != nil {
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
