package realtime

import (
	"testing"

	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/internal/testsupport"
)

// An enrich hook that panics for some subscribers (it reads a guest's
// missing auth) costs the others nothing: the signed-in subscriber still
// gets the event, the guest does not.
func TestAPanicMakingOneBodyLosesOnlyItsSubscribers(t *testing.T) {
	t.Parallel()
	app, _, base := served(t, Options{}, "")
	app.OnRecordEnrich("notes").BindFunc(func(e *core.RecordEnrichEvent) error {
		_ = e.RequestInfo.Auth.Id // a guest has none
		return e.Next()
	})
	_, token := testsupport.NewAuthRecord(t, app, "users", "a@example.com")
	guest := subscribed(t, base, "", "notes/*")
	member := subscribed(t, base, token, "notes/*")
	testsupport.SaveRecord(t, app, "notes", map[string]any{"title": "a"})
	if got := next(t, member); got != "create a" {
		t.Fatalf("the signed-in subscriber got %q", got)
	}
	testsupport.SaveRecord(t, app, "notes", map[string]any{"title": "b"})
	if got := next(t, member); got != "create b" {
		t.Fatalf("the signed-in subscriber got %q", got)
	}
	select {
	case event := <-guest.Events:
		t.Fatalf("the guest, whose body panicked, got %+v", event)
	default:
	}
}

// A client keeps the auth collection it signed in with, as in PocketBase:
// after the collection is renamed, a rule on @request.auth.collectionName
// judges it by the old name and a client signed in since by the new one,
// each by its own, not by whichever of them the group met first.
func TestClientsSignedInBeforeAndAfterARenameAreJudgedApart(t *testing.T) {
	t.Parallel()
	app, _, base := served(t, Options{}, `@request.auth.collectionName = "members"`)
	_, before := testsupport.NewAuthRecord(t, app, "users", "a@example.com")
	_, after := testsupport.NewAuthRecord(t, app, "users", "b@example.com")
	stale := subscribed(t, base, before, "notes/*")
	testsupport.UpdateCollection(t, app, "users", func(c *core.Collection) { c.Name = "members" })
	fresh := subscribed(t, base, after, "notes/*")
	for _, title := range []string{"a", "b"} {
		testsupport.SaveRecord(t, app, "notes", map[string]any{"title": title})
		if got := next(t, fresh); got != "create "+title {
			t.Fatalf("the client signed in after the rename got %q", got)
		}
	}
	select {
	case event := <-stale.Events:
		t.Fatalf("the client signed in as a %q got %+v", "users", event)
	default:
	}
}
