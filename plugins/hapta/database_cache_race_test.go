package hapta

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/postr-inc/hapta/internal/testsupport"
	"github.com/postr-inc/hapta/plugins/hapta/internal/recordcache"
)

// The tests of this file race the cache: writes, rule changes and other
// requests while an answer is being computed.

// sameAsPocketBase reads path from the cached server and from PocketBase
// alone, and fails when they differ.
func sameAsPocketBase(t *testing.T, cached, plain *httptest.Server, path, token, step string) {
	t.Helper()
	mine := testsupport.CallJSON(t, "GET", cached.URL+path, "", "Authorization", token)
	theirs := testsupport.CallJSON(t, "GET", plain.URL+path, "", "Authorization", token)
	if mine.Status != theirs.Status || !sameJSON(string(mine.Raw), string(theirs.Raw)) {
		t.Fatalf("%s: cached (%s) %d %s\nPocketBase %d %s", step, mine.Header.Get(recordcache.Header),
			mine.Status, mine.Raw, theirs.Status, theirs.Raw)
	}
}

func TestARuleChangeRolledBackLeavesNoAnswerOfItsRules(t *testing.T) {
	t.Parallel()
	app, server := soundApp(t, []string{"notes"}, func(app core.App) {
		newCollection(t, app, "notes", types.Pointer("owner = @request.auth.id"),
			&core.RelationField{Name: "owner", CollectionId: usersID(t, app), MaxSelect: 1}, &core.TextField{Name: "text"})
	})
	plain := testsupport.ServePocketBase(t, app)
	alice, aliceToken := testsupport.NewAuthRecord(t, app, "users", "alice@example.com")
	bob, bobToken := testsupport.NewAuthRecord(t, app, "users", "bob@example.com")
	testsupport.SaveRecord(t, app, "notes", map[string]any{"owner": alice.Id, "text": "alice's"})
	testsupport.SaveRecord(t, app, "notes", map[string]any{"owner": bob.Id, "text": "bob's secret"})
	const path = "/api/collections/notes/records"
	items(t, server, path, bobToken, "text") // plans the read as per caller

	// PocketBase reloads its collections at once when one is saved inside
	// a transaction, so requests meanwhile see the new rule
	inside, rollBack, rolledBack := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		rolledBack <- app.RunInTransaction(func(tx core.App) error {
			notes, _ := tx.FindCollectionByNameOrId("notes")
			notes.ListRule = types.Pointer("")
			if err := tx.Save(notes); err != nil {
				return err
			}
			close(inside)
			<-rollBack
			return errors.New("rolled back")
		})
	}()
	<-inside
	items(t, server, path, aliceToken, "text")
	close(rollBack)
	if err := <-rolledBack; err == nil {
		t.Fatal("the transaction committed")
	}
	sameAsPocketBase(t, server, plain, path, aliceToken, "after the rollback")
}

func TestARuleChangeWhileAReadIsPlannedVoidsItsAnswer(t *testing.T) {
	t.Parallel()
	app, server := soundApp(t, []string{"notes"}, func(app core.App) {
		// a long view rule makes planning the expands below slow enough
		// for the rule change to land while the read is planned
		long := "text != '" + strings.Repeat("A", 100_000) + "'"
		big := newCollection(t, app, "big", &long, &core.TextField{Name: "text"})
		newCollection(t, app, "flags", types.Pointer(""), &core.BoolField{Name: "on"})
		newCollection(t, app, "notes", types.Pointer(""), &core.TextField{Name: "text"},
			&core.RelationField{Name: "rel", CollectionId: big.Id, MaxSelect: 1})
	})
	plain := testsupport.ServePocketBase(t, app)
	big := testsupport.SaveRecord(t, app, "big", map[string]any{"text": "b"})
	testsupport.SaveRecord(t, app, "notes", map[string]any{"text": "hello", "rel": big.Id})
	flag := testsupport.SaveRecord(t, app, "flags", map[string]any{"on": true})

	path := "/api/collections/notes/records?expand=" + strings.Repeat("rel,", 400) + "rel"
	read := make(chan struct{})
	go func() {
		defer close(read)
		items(t, server, path, "", "text")
	}()
	time.Sleep(30 * time.Millisecond)
	notes, _ := app.FindCollectionByNameOrId("notes")
	notes.ListRule = types.Pointer("@collection.flags.on ?= true")
	if err := app.Save(notes); err != nil {
		t.Fatal(err)
	}
	<-read
	flag.Set("on", false)
	if err := app.Save(flag); err != nil {
		t.Fatal(err)
	}
	sameAsPocketBase(t, server, plain, path, "", "after the flag went off")
}

// rateLimitedNotes serves notes (public to list under rule, 800 of them,
// so that a filtered list takes a while) with PocketBase's rate limit
// notes:list at max requests a minute per address.
func rateLimitedNotes(t *testing.T, rule string, max int) (core.App, *httptest.Server) {
	return soundApp(t, []string{"notes"}, func(app core.App) {
		notes := newCollection(t, app, "notes", types.Pointer(rule), &core.TextField{Name: "text"})
		settings := app.Settings()
		settings.TrustedProxy.Headers = []string{"X-Forwarded-For"}
		settings.RateLimits.Enabled = true
		settings.RateLimits.Rules = []core.RateLimitRule{{Label: "notes:list", MaxRequests: max, Duration: 60}}
		if err := app.Save(settings); err != nil {
			t.Fatal(err)
		}
		err := app.RunInTransaction(func(tx core.App) error {
			for i := range 800 {
				record := core.NewRecord(notes)
				record.Set("text", fmt.Sprintf("note %d %s", i, strings.Repeat("x", 200)))
				if err := tx.Save(record); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// concurrently sends n reads of path at once, the i-th from address(i),
// and counts the answers by status.
func concurrently(t *testing.T, server *httptest.Server, path string, n int, address func(i int) string) map[int]int {
	var mu sync.Mutex
	var wg sync.WaitGroup
	counts := map[int]int{}
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", server.URL+path, nil)
			req.Header.Set("X-Forwarded-For", address(i))
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			mu.Lock()
			counts[res.StatusCode]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return counts
}

func TestConcurrentReadsSharingALoadCountAgainstRateLimits(t *testing.T) {
	t.Parallel()
	_, server := rateLimitedNotes(t, "", 2)
	path := "/api/collections/notes/records?perPage=500&sort=-text&filter=text~'9'"
	counts := concurrently(t, server, path, 20, func(int) string { return "10.0.0.2" })
	if counts[200] > 2 || counts[200]+counts[429] != 20 {
		t.Fatalf("20 concurrent reads from one address under a limit of 2: %v", counts)
	}
}

func TestASharedLoadDoesNotShareItsRateLimit(t *testing.T) {
	t.Parallel()
	// an empty filtered list under a list rule is never kept, so each read
	// loads, and concurrent ones share the load
	_, server := rateLimitedNotes(t, "text != 'zzz'", 3)
	path := "/api/collections/notes/records?filter=text~'nomatch'"
	const exhausted = "10.9.9.9"
	concurrently(t, server, path, 3, func(int) string { return exhausted })
	counts := map[string]map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, who := range []string{"exhausted", "fresh"} {
		wg.Go(func() {
			got := concurrently(t, server, path, 100, func(i int) string {
				if who == "exhausted" {
					return exhausted
				}
				return fmt.Sprintf("10.100.%d.%d", i>>8, i&255)
			})
			mu.Lock()
			counts[who] = got
			mu.Unlock()
		})
	}
	wg.Wait()
	if counts["exhausted"][200] != 0 || counts["fresh"][429] != 0 {
		t.Fatalf("an exhausted address got %d answers, fresh addresses %d refusals (want none): %v",
			counts["exhausted"][200], counts["fresh"][429], counts)
	}
}
