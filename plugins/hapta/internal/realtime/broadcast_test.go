package realtime

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/postr-inc/hapta/internal/sse"
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

// An expand loads the related records as each client's own auth record
// may see them, flags and all: two clients of one user, signed in before
// and after its verified flag changed (without hooks, which would refresh
// the first), get the bodies PocketBase would give each.
func TestAnExpandIsMadePerCallersFlags(t *testing.T) {
	t.Parallel()
	app, _, base := served(t, Options{}, "")
	testsupport.UpdateCollection(t, app, "users", func(c *core.Collection) {
		c.ViewRule = types.Pointer("@request.auth.verified = true")
	})
	user, token := testsupport.NewAuthRecord(t, app, "users", "a@example.com")
	topic := "notes/*?options=" + url.QueryEscape(`{"query":{"expand":"owner"}}`)
	unverified := subscribed(t, base, token, topic)
	if _, err := app.NonconcurrentDB().NewQuery("UPDATE users SET verified = TRUE WHERE id = {:id}").
		Bind(dbx.Params{"id": user.Id}).Execute(); err != nil {
		t.Fatal(err)
	}
	verified := subscribed(t, base, token, topic)
	testsupport.SaveRecord(t, app, "notes", map[string]any{"title": "a", "owner": user.Id})
	for _, c := range []struct {
		stream   *sse.Stream
		expanded bool
	}{{unverified, false}, {verified, true}} {
		select {
		case event := <-c.stream.Events:
			if got := strings.Contains(event.Data, `"expand":{"owner"`); got != c.expanded {
				t.Fatalf("expanded %v, want %v: %s", got, c.expanded, event.Data)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no event within 10s")
		}
	}
}
