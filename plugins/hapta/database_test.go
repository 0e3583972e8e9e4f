package hapta

import (
	"errors"
	"net/http"
	"testing"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/router"

	"github.com/postr-inc/hapta/internal/testsupport"
)

func TestDatabaseAsPrincipalAndAsSystem(t *testing.T) {
	t.Parallel()
	app, _ := cachedApp(t)
	alice, _ := testsupport.NewAuthRecord(t, app, "users", "alice@example.com")
	bob, _ := testsupport.NewAuthRecord(t, app, "users", "bob@example.com")
	testsupport.SaveRecord(t, app, "notes", map[string]any{"owner": alice.Id, "text": "alice's"})
	bobNote := testsupport.SaveRecord(t, app, "notes", map[string]any{"owner": bob.Id, "text": "bob's"})

	db := ServicesOf(app).DB
	asAlice := db.As(Principal{IsAuthenticated: true, ID: alice.Id, Record: alice})

	page, err := asAlice.List("notes", ListOptions{Sort: "text"})
	if err != nil || page.TotalItems != 1 || page.Items[0]["text"] != "alice's" {
		t.Fatalf("alice's list: %+v %v", page, err)
	}
	asBob := db.As(Principal{IsAuthenticated: true, ID: bob.Id, Record: bob})
	for i := 0; i < 2; i++ { // the second reads are cache hits: still each their own
		alicePage, _ := asAlice.List("notes", ListOptions{Sort: "text"})
		bobPage, err := asBob.List("notes", ListOptions{Sort: "text"})
		if err != nil || bobPage.TotalItems != 1 || bobPage.Items[0]["text"] != "bob's" || alicePage.Items[0]["text"] != "alice's" {
			t.Fatalf("read %d: alice %+v, bob %+v %v", i, alicePage, bobPage, err)
		}
	}
	_, err = asAlice.Get("notes", bobNote.Id, ReadOptions{})
	var apiErr *router.ApiError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
		t.Fatalf("alice read bob's note: %v", err)
	}
	if _, err := db.As(Principal{}).List("notes", ListOptions{}); err != nil {
		t.Fatalf("anonymous list: %v", err)
	}

	system := db.AsSystem()
	all, err := system.List("notes", ListOptions{Sort: "text", Expand: "owner", Fields: "text,expand.owner.email"})
	if err != nil || all.TotalItems != 2 {
		t.Fatalf("system list: %+v %v", all, err)
	}
	owner := all.Items[1]["expand"].(map[string]any)["owner"].(map[string]any)
	if owner["email"] != "bob@example.com" || all.Items[1]["id"] != nil {
		t.Fatalf("expand and fields: %v", all.Items[1])
	}
	note, err := system.Get("notes", bobNote.Id, ReadOptions{})
	if err != nil || note["text"] != "bob's" {
		t.Fatalf("system get: %v %v", note, err)
	}

	// writes go through the rules too
	created, err := asAlice.Create("notes", map[string]any{"owner": alice.Id, "text": "new"})
	if err != nil || created["id"] == "" {
		t.Fatalf("create: %v %v", created, err)
	}
	if _, err := db.As(Principal{}).Create("posts", map[string]any{"title": "Anonymous post"}); err == nil {
		t.Fatal("an anonymous create passed the posts rule")
	}
	updated, err := system.Update("notes", bobNote.Id, map[string]any{"text": "bob's, edited"})
	if err != nil || updated["text"] != "bob's, edited" {
		t.Fatalf("update: %v %v", updated, err)
	}
	if err := system.Delete("notes", created["id"].(string)); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := system.Get("notes", created["id"].(string), ReadOptions{}); err == nil {
		t.Fatal("a deleted note is still there")
	}
}

func TestDatabaseReadsAreCachedAndOwnedByTheCaller(t *testing.T) {
	t.Parallel()
	app, _ := cachedApp(t)
	author, _ := testsupport.NewAuthRecord(t, app, "users", "author@example.com")
	post := testsupport.SaveRecord(t, app, "posts", map[string]any{"title": "Cached", "author": author.Id})
	services := ServicesOf(app)
	system := services.DB.AsSystem()

	first, err := system.Get("posts", post.Id, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	first["title"] = "mutated by the caller"
	before := pluginOf(app).cache.Stats().Hits
	second, err := system.Get("posts", post.Id, ReadOptions{})
	if err != nil || second["title"] != "Cached" {
		t.Fatalf("a caller's change reached the cache: %v %v", second, err)
	}
	if pluginOf(app).cache.Stats().Hits != before+1 {
		t.Fatal("the second read was not served from the cache")
	}

	post.Set("title", "Changed")
	if err := app.Save(post); err != nil {
		t.Fatal(err)
	}
	third, err := system.Get("posts", post.Id, ReadOptions{})
	if err != nil || third["title"] != "Changed" {
		t.Fatalf("stale after a write: %v %v", third, err)
	}
}

// PocketBase's rate limits count a request's database calls against that
// request's client, not against one shared local address.
func TestDatabaseCallsCountAgainstTheClient(t *testing.T) {
	t.Parallel()
	app := haptaApp(t, `{"logLevel": "error"}`)
	newPosts(t, app)
	settings := app.Settings()
	settings.RateLimits.Enabled = true
	settings.RateLimits.Rules = []core.RateLimitRule{{Label: "*:list", MaxRequests: 2, Duration: 60}}
	settings.TrustedProxy.Headers = []string{"X-Forwarded-For"}
	if err := app.Save(settings); err != nil {
		t.Fatal(err)
	}
	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		Handle(se, "GET /feed-twice", func(ctx *Context, _ struct{}) error {
			for i := 0; i < 2; i++ {
				if _, err := ctx.DB().List("posts", ListOptions{}); err != nil {
					return err
				}
			}
			return ctx.NoContent(http.StatusNoContent)
		})
		return se.Next()
	})
	server, err := testsupport.Serve(t, app)
	if err != nil {
		t.Fatal(err)
	}

	call := func(ip string) int {
		return testsupport.CallJSON(t, "GET", server.URL+"/feed-twice", "", "X-Forwarded-For", ip).Status
	}
	if a, b := call("198.51.100.1"), call("198.51.100.2"); a != 204 || b != 204 {
		t.Fatalf("two clients, two list calls each: %d, %d", a, b)
	}
	if again := call("198.51.100.1"); again != http.StatusTooManyRequests {
		t.Fatalf("the first client's third and fourth list calls: %d, want 429", again)
	}
}
