package hapta

import (
	"fmt"
	"github.com/pocketbase/pocketbase/tools/hook"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/plugins/jsvm"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/postr-inc/hapta/internal/testsupport"
	"github.com/postr-inc/hapta/plugins/hapta/internal/recordcache"
)

// The tests of this file each reproduce a way the cache once served one
// caller's answer to another, a stale answer, or skipped PocketBase.

// soundApp serves hapta with the HTTP cache on for the named collections,
// which setup creates (before the server starts), and posts.
func soundApp(t *testing.T, cached []string, setup func(app core.App)) (core.App, *httptest.Server) {
	t.Helper()
	entries := make([]string, len(cached))
	for i, name := range cached {
		entries[i] = `"` + name + `": {"http": true, "ttl": "1m"}`
	}
	config := `{"logLevel": "error", "cache": {"collections": {` + strings.Join(entries, ",") + `}}}`
	app := haptaApp(t, config)
	newPosts(t, app)
	setup(app)
	server, err := testsupport.Serve(t, app)
	if err != nil {
		t.Fatal(err)
	}
	return app, server
}

// newCollection saves a base collection with fields and list/view rules
// (nil: superusers only).
func newCollection(t *testing.T, app core.App, name string, rule *string, fields ...core.Field) *core.Collection {
	t.Helper()
	collection := core.NewBaseCollection(name)
	collection.Fields.Add(fields...)
	collection.ListRule, collection.ViewRule = rule, rule
	if err := app.Save(collection); err != nil {
		t.Fatal(err)
	}
	return collection
}

func usersID(t *testing.T, app core.App) string {
	users, err := app.FindCollectionByNameOrId("users")
	if err != nil {
		t.Fatal(err)
	}
	return users.Id
}

// items reads a list and returns its cache header and the items' field.
func items(t *testing.T, server *httptest.Server, path, token, field string, headers ...string) (string, string) {
	t.Helper()
	answer := testsupport.CallJSON(t, "GET", server.URL+path, "", append([]string{"Authorization", token}, headers...)...)
	if answer.Status != 200 {
		t.Fatalf("GET %s: %d %s", path, answer.Status, answer.Raw)
	}
	var values []string
	for _, item := range answer.Body["items"].([]any) {
		values = append(values, item.(map[string]any)[field].(string))
	}
	return answer.Header.Get(recordcache.Header), strings.Join(values, ",")
}

// keptApart reads path as the owner (twice, so that a cache keeps it), then
// as each other caller, who must not get the owner's items.
func keptApart(t *testing.T, server *httptest.Server, path, field, ownerToken, want string, others ...string) {
	t.Helper()
	for range 2 {
		if _, got := items(t, server, path, ownerToken, field); got != want {
			t.Fatalf("the owner reads %q, want %q", got, want)
		}
	}
	for i, token := range others {
		if header, got := items(t, server, path, token, field); got != "" {
			t.Fatalf("caller %d got the owner's answer (%s): %q", i, header, got)
		}
	}
}

func TestARuleWithACommentKeepsCallersApart(t *testing.T) {
	t.Parallel()
	// the apostrophe and the quote of 'draft' once read as one string
	rule := "// only the owner's notes\nowner = @request.auth.id && text != 'draft'"
	app, server := soundApp(t, []string{"diary"}, func(app core.App) {
		newCollection(t, app, "diary", &rule,
			&core.RelationField{Name: "owner", CollectionId: usersID(t, app), MaxSelect: 1}, &core.TextField{Name: "text"})
	})
	alice, aliceToken := testsupport.NewAuthRecord(t, app, "users", "alice@example.com")
	_, bobToken := testsupport.NewAuthRecord(t, app, "users", "bob@example.com")
	testsupport.SaveRecord(t, app, "diary", map[string]any{"owner": alice.Id, "text": "alice's secret"})

	keptApart(t, server, "/api/collections/diary/records", "text", aliceToken, "alice's secret", bobToken, "")
}

// articlesApp: public articles, comments only their owner sees, and users
// whose records anyone may view (their emails stay their own).
func articlesApp(t *testing.T) (core.App, *httptest.Server) {
	return soundApp(t, []string{"articles", "comments"}, func(app core.App) {
		articles := newCollection(t, app, "articles", types.Pointer(""), &core.TextField{Name: "title"})
		newCollection(t, app, "comments", types.Pointer(`@request.auth.id != "" && owner = @request.auth.id`),
			&core.RelationField{Name: "article", CollectionId: articles.Id, MaxSelect: 1},
			&core.RelationField{Name: "owner", CollectionId: usersID(t, app), MaxSelect: 1},
			&core.TextField{Name: "text"})
		users, _ := app.FindCollectionByNameOrId("users")
		users.ViewRule = types.Pointer("")
		if err := app.Save(users); err != nil {
			t.Fatal(err)
		}
	})
}

func TestEveryExpandSpellingKeepsCallersApart(t *testing.T) {
	t.Parallel()
	app, server := articlesApp(t)
	alice, aliceToken := testsupport.NewAuthRecord(t, app, "users", "alice@example.com")
	_, bobToken := testsupport.NewAuthRecord(t, app, "users", "bob@example.com")
	article := testsupport.SaveRecord(t, app, "articles", map[string]any{"title": "Public"})
	testsupport.SaveRecord(t, app, "comments", map[string]any{"article": article.Id, "owner": alice.Id, "text": "private"})

	for _, expand := range []string{"comments(article)", "comments_via_article%20", "%20comments_via_article.", ".comments_via_article", "comments(article).owner", "comments_via_article%20.%20owner"} {
		path := "/api/collections/articles/records/" + article.Id + "?expand=" + expand
		mine := testsupport.CallJSON(t, "GET", server.URL+path, "", "Authorization", aliceToken)
		if !strings.Contains(string(mine.Raw), `"private"`) {
			t.Fatalf("expand %s: alice does not see her comment: %s", expand, mine.Raw)
		}
		for _, token := range []string{bobToken, ""} {
			theirs := testsupport.CallJSON(t, "GET", server.URL+path, "", "Authorization", token)
			if strings.Contains(string(theirs.Raw), `"private"`) || strings.Contains(string(theirs.Raw), "alice@example.com") {
				t.Fatalf("expand %s: another caller got alice's comment (%s): %s", expand, theirs.Header.Get(recordcache.Header), theirs.Raw)
			}
		}
	}
}

func TestAFilterJoinUnderAListRuleKeepsCallersApart(t *testing.T) {
	t.Parallel()
	app, server := soundApp(t, []string{"shelves"}, func(app core.App) {
		boxes := newCollection(t, app, "boxes", types.Pointer(`@request.auth.id != "" && owner = @request.auth.id`),
			&core.RelationField{Name: "owner", CollectionId: usersID(t, app), MaxSelect: 1}, &core.TextField{Name: "label"})
		newCollection(t, app, "shelves", types.Pointer(""),
			&core.RelationField{Name: "box", CollectionId: boxes.Id, MaxSelect: 1}, &core.TextField{Name: "name"})
	})
	alice, aliceToken := testsupport.NewAuthRecord(t, app, "users", "alice@example.com")
	_, bobToken := testsupport.NewAuthRecord(t, app, "users", "bob@example.com")
	box := testsupport.SaveRecord(t, app, "boxes", map[string]any{"owner": alice.Id, "label": "secret"})
	testsupport.SaveRecord(t, app, "shelves", map[string]any{"box": box.Id, "name": "top"})

	// PocketBase applies the boxes' list rule to the join: bob learns nothing
	keptApart(t, server, "/api/collections/shelves/records?filter=box.label%3D%27secret%27", "name", aliceToken, "top", bobToken)
}

func TestARuleThatReadsTheBodyBypasses(t *testing.T) {
	t.Parallel()
	app, server := soundApp(t, []string{"vault"}, func(app core.App) {
		newCollection(t, app, "vault", types.Pointer(`@request.body.key = "letmein"`), &core.TextField{Name: "text"})
	})
	testsupport.SaveRecord(t, app, "vault", map[string]any{"text": "gold"})

	withKey := testsupport.CallJSON(t, "GET", server.URL+"/api/collections/vault/records", `{"key": "letmein"}`)
	if withKey.Status != 200 || !strings.Contains(string(withKey.Raw), "gold") {
		t.Fatalf("with the key: %d %s", withKey.Status, withKey.Raw)
	}
	if header, got := items(t, server, "/api/collections/vault/records", "", "text"); got != "" || header != "BYPASS" {
		t.Fatalf("without the key: %s %q", header, got)
	}
}

func TestABodyOnGetIsReadAsPocketBaseReadsIt(t *testing.T) {
	t.Parallel()
	_, server := soundApp(t, []string{"posts"}, func(core.App) {})
	for i, want := range []string{"MISS", "HIT"} {
		if header, _ := items(t, server, "/api/collections/posts/records", "", "title"); header != want {
			t.Fatalf("read %d: %s", i, header)
		}
	}
	req, _ := http.NewRequest("GET", server.URL+"/api/collections/posts/records", strings.NewReader("{not json"))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 400 {
		t.Fatalf("a malformed body answered %d (%s), PocketBase answers 400", res.StatusCode, res.Header.Get(recordcache.Header))
	}
}

func TestSuperusersFilteringByThemselvesAreApart(t *testing.T) {
	t.Parallel()
	app, server := soundApp(t, []string{"posts"}, func(core.App) {})
	author, _ := testsupport.NewAuthRecord(t, app, "users", "author@example.com")
	testsupport.SaveRecord(t, app, "posts", map[string]any{"title": "Hello", "author": author.Id})
	_, rootToken := testsupport.NewAuthRecord(t, app, core.CollectionNameSuperusers, "root@example.com")
	_, otherToken := testsupport.NewAuthRecord(t, app, core.CollectionNameSuperusers, "other@example.com")

	keptApart(t, server, "/api/collections/posts/records?filter=%40request.auth.email%3D%27root%40example.com%27", "title", rootToken, "Hello", otherToken)
}

func TestReadHooksRunOnEveryRead(t *testing.T) {
	t.Parallel()
	var lists, views atomic.Int32
	app, server := soundApp(t, []string{"posts"}, func(app core.App) {
		app.OnRecordsListRequest("posts").BindFunc(func(e *core.RecordsListRequestEvent) error {
			lists.Add(1)
			if e.Auth == nil { // hide everything from anonymous callers
				e.Records = e.Records[:0]
				e.Result.Items = e.Records
			}
			return e.Next()
		})
		app.OnRecordViewRequest("posts").BindFunc(func(e *core.RecordRequestEvent) error {
			views.Add(1)
			return e.Next()
		})
	})
	author, token := testsupport.NewAuthRecord(t, app, "users", "author@example.com")
	post := testsupport.SaveRecord(t, app, "posts", map[string]any{"title": "Hello", "author": author.Id})

	for range 2 {
		if header, got := items(t, server, "/api/collections/posts/records", token, "title"); got != "Hello" || header != "BYPASS" {
			t.Fatalf("the author: %s %q", header, got)
		}
	}
	if header, got := items(t, server, "/api/collections/posts/records", "", "title"); got != "" {
		t.Fatalf("the hook was skipped for an anonymous caller (%s): %q", header, got)
	}
	for range 2 {
		get(t, server, "/api/collections/posts/records/"+post.Id, "")
	}
	if lists.Load() != 3 || views.Load() != 2 {
		t.Fatalf("hooks ran %d list and %d view times, want 3 and 2", lists.Load(), views.Load())
	}
	stats := pluginOf(app).cache.Stats()
	if stats.Bypasses[recordcache.BypassReadHooks] != 5 {
		t.Fatalf("stats do not say why: %v", stats.Bypasses)
	}
}

func TestJavaScriptReadHooksRunOnEveryRead(t *testing.T) {
	t.Parallel()
	hooks := t.TempDir()
	err := os.WriteFile(filepath.Join(hooks, "count.pb.js"), []byte(`
onRecordViewRequest((e) => {
	$app.store().set("views", ($app.store().get("views") || 0) + 1)
	e.next()
}, "posts")`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	config := `{"logLevel": "error", "cache": {"collections": {"posts": {"http": true}}}}`
	app := haptaApp(t, config, func(app core.App) {
		jsvm.MustRegister(app, jsvm.Config{HooksDir: hooks})
	})
	newPosts(t, app)
	server, err := testsupport.Serve(t, app)
	if err != nil {
		t.Fatal(err)
	}
	author, _ := testsupport.NewAuthRecord(t, app, "users", "author@example.com")
	post := testsupport.SaveRecord(t, app, "posts", map[string]any{"title": "Hello", "author": author.Id})
	for range 3 {
		get(t, server, "/api/collections/posts/records/"+post.Id, "")
	}
	if views := fmt.Sprint(app.Store().Get("views")); views != "3" {
		t.Fatalf("the pb_hooks view hook ran %v times for 3 reads", views)
	}
}

func TestEnrichHooksRunOnEveryRead(t *testing.T) {
	t.Parallel()
	var enriched atomic.Int32
	app, server := soundApp(t, []string{"posts"}, func(app core.App) {
		app.OnRecordEnrich("posts").BindFunc(func(e *core.RecordEnrichEvent) error {
			enriched.Add(1)
			e.Record.WithCustomData(true)
			e.Record.Set("seen", enriched.Load())
			return e.Next()
		})
	})
	author, _ := testsupport.NewAuthRecord(t, app, "users", "author@example.com")
	post := testsupport.SaveRecord(t, app, "posts", map[string]any{"title": "Hello", "author": author.Id})
	for i := range 2 {
		header, body := get(t, server, "/api/collections/posts/records/"+post.Id, "")
		if header != "BYPASS" || body["seen"] != float64(i+1) {
			t.Fatalf("read %d: %s, seen %v", i, header, body["seen"])
		}
	}
}

func TestAnEmptyFilteredListUnderAListRuleIsNotKept(t *testing.T) {
	t.Parallel()
	app, server := soundApp(t, []string{"notes"}, func(app core.App) {
		newCollection(t, app, "notes", types.Pointer(`text != ""`), &core.TextField{Name: "text"})
	})
	testsupport.SaveRecord(t, app, "notes", map[string]any{"text": "kept"})
	// PocketBase slows down repeated empty searches: each must reach it
	for i := range 2 {
		if header, got := items(t, server, "/api/collections/notes/records?filter=text%3D%27none%27", "", "text"); header != "MISS" || got != "" {
			t.Fatalf("empty search %d: %s %q", i, header, got)
		}
	}
	for i, want := range []string{"MISS", "HIT"} {
		if header, got := items(t, server, "/api/collections/notes/records?filter=text%3D%27kept%27", "", "text"); header != want || got != "kept" {
			t.Fatalf("search %d: %s %q", i, header, got)
		}
	}
}

func TestARuleChangeThatDropsADependencyIsNotStale(t *testing.T) {
	t.Parallel()
	app, server := soundApp(t, []string{"docs"}, func(app core.App) {
		newCollection(t, app, "gates", types.Pointer(""), &core.BoolField{Name: "open"})
		newCollection(t, app, "docs", types.Pointer("@collection.gates.open ?= true"),
			&core.TextField{Name: "title"}, &core.BoolField{Name: "hidden"})
	})
	// one write to gates: the old answer's sum of counters then equals
	// the sum after the rule change (one more schema change, no gates)
	testsupport.SaveRecord(t, app, "gates", map[string]any{"open": true})
	testsupport.SaveRecord(t, app, "docs", map[string]any{"title": "draft", "hidden": true})
	for range 2 {
		if _, got := items(t, server, "/api/collections/docs/records", "", "title"); got != "draft" {
			t.Fatalf("before: %q", got)
		}
	}
	docs, _ := app.FindCollectionByNameOrId("docs")
	docs.ListRule = types.Pointer("hidden = false")
	if err := app.Save(docs); err != nil {
		t.Fatal(err)
	}
	if header, got := items(t, server, "/api/collections/docs/records", "", "title"); got != "" {
		t.Fatalf("a tightened rule still serves the hidden doc (%s): %q", header, got)
	}
}

func TestNewRecordsAfterARuleChangeAreNotMissed(t *testing.T) {
	t.Parallel()
	app, server := soundApp(t, []string{"docs"}, func(app core.App) {
		newCollection(t, app, "gates", types.Pointer(""), &core.BoolField{Name: "open"})
		newCollection(t, app, "docs", types.Pointer("@collection.gates.open ?= true"), &core.TextField{Name: "title"})
	})
	const n = 4 // writes to gates; after the rule change, n-1 creates bring a sum back
	for range n {
		testsupport.SaveRecord(t, app, "gates", map[string]any{"open": true})
	}
	for range 2 {
		items(t, server, "/api/collections/docs/records", "", "title")
	}
	docs, _ := app.FindCollectionByNameOrId("docs")
	docs.ListRule = types.Pointer("")
	if err := app.Save(docs); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range n - 1 {
		title := fmt.Sprintf("new %d", i)
		testsupport.SaveRecord(t, app, "docs", map[string]any{"title": title})
		want = append(want, title)
	}
	if header, got := items(t, server, "/api/collections/docs/records", "", "title"); got != strings.Join(want, ",") {
		t.Fatalf("after %d creates (%s): %q", n-1, header, got)
	}
}

func TestWritesOfRecordProxiesInvalidate(t *testing.T) {
	t.Parallel()
	app, server := soundApp(t, []string{"_externalAuths"}, func(core.App) {})
	user, token := testsupport.NewAuthRecord(t, app, "users", "linked@example.com")
	const path = "/api/collections/_externalAuths/records"
	for range 2 {
		if _, got := items(t, server, path, token, "provider"); got != "" {
			t.Fatalf("before: %q", got)
		}
	}
	link := core.NewExternalAuth(app)
	link.SetRecordRef(user.Id)
	link.SetCollectionRef(user.Collection().Id)
	link.SetProvider("github")
	link.SetProviderId("42")
	if err := app.Save(link); err != nil { // a *core.ExternalAuth, not a *core.Record
		t.Fatal(err)
	}
	if header, got := items(t, server, path, token, "provider"); got != "github" {
		t.Fatalf("after linking (%s): %q", header, got)
	}
}

func TestClockAndRandomReadsBypass(t *testing.T) {
	t.Parallel()
	app, server := soundApp(t, []string{"posts", "recent"}, func(app core.App) {
		recent := core.NewViewCollection("recent")
		recent.ViewQuery = "SELECT id, title, (strftime('%s', 'now') - strftime('%s', created)) AS age FROM posts"
		recent.ListRule = types.Pointer("")
		if err := app.Save(recent); err != nil {
			t.Fatal(err)
		}
	})
	author, _ := testsupport.NewAuthRecord(t, app, "users", "author@example.com")
	testsupport.SaveRecord(t, app, "posts", map[string]any{"title": "Hello", "author": author.Id})
	for _, path := range []string{
		"/api/collections/posts/records?filter=created%3Cstrftime(%27%25Y-%25m-%25d%20%25H:%25M:%25S%27,%27now%27)",
		"/api/collections/posts/records?filter=created%3Cstrftime(%27%25Y-%25m-%25d%27)",
		"/api/collections/posts/records?filter=created%3Cstrftime(%27%25Y-%25m-%25d%27,title)",
		"/api/collections/posts/records?sort=@random",
		"/api/collections/recent/records",
	} {
		for range 2 {
			if header, _ := items(t, server, path, "", "title"); header != "BYPASS" {
				t.Fatalf("%s: %s", path, header)
			}
		}
	}
	// a strftime over a date field reads no clock
	path := "/api/collections/posts/records?filter=strftime(%27%25Y%27,created)%3E%271999%27"
	items(t, server, path, "", "title")
	if header, got := items(t, server, path, "", "title"); header != "HIT" || got != "Hello" {
		t.Fatalf("a clock-free strftime: %s %q", header, got)
	}
}

func TestCollectionRateLimitsCountHits(t *testing.T) {
	t.Parallel()
	app, server := soundApp(t, []string{"posts"}, func(app core.App) {
		settings := app.Settings()
		settings.RateLimits.Enabled = true
		settings.RateLimits.Rules = []core.RateLimitRule{
			{Label: "posts:list", MaxRequests: 3, Duration: 60},
			{Label: "*:view", MaxRequests: 2, Duration: 60},
		}
		if err := app.Save(settings); err != nil {
			t.Fatal(err)
		}
	})
	author, _ := testsupport.NewAuthRecord(t, app, "users", "author@example.com")
	post := testsupport.SaveRecord(t, app, "posts", map[string]any{"title": "Hello", "author": author.Id})
	for path, allowed := range map[string][]string{
		"/api/collections/posts/records":            {"MISS", "HIT", "HIT"},
		"/api/collections/posts/records/" + post.Id: {"MISS", "HIT"},
	} {
		for i, want := range allowed {
			answer := testsupport.CallJSON(t, "GET", server.URL+path, "")
			if answer.Status != 200 || answer.Header.Get(recordcache.Header) != want {
				t.Fatalf("%s, read %d: %d %s, want %s", path, i, answer.Status, answer.Header.Get(recordcache.Header), want)
			}
		}
		limited := testsupport.CallJSON(t, "GET", server.URL+path, "")
		if limited.Status != 429 || limited.Body["message"] != "Too Many Requests." {
			t.Fatalf("%s: the read over the limit answered %d %s (%s), want PocketBase's 429",
				path, limited.Status, limited.Raw, limited.Header.Get(recordcache.Header))
		}
	}
}

func TestAMiddlewareBoundAfterHaptaRunsOnHits(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	_, server := soundApp(t, []string{"posts"}, func(app core.App) {
		app.OnServe().BindFunc(func(se *core.ServeEvent) error {
			se.Router.BindFunc(func(e *core.RequestEvent) error {
				calls.Add(1)
				e.Response.Header().Set("X-Application", "seen")
				return e.Next()
			})
			return se.Next()
		})
	})
	for i, want := range []string{"MISS", "HIT"} {
		answer := testsupport.CallJSON(t, "GET", server.URL+"/api/collections/posts/records", "")
		if answer.Header.Get(recordcache.Header) != want || answer.Header.Get("X-Application") != "seen" {
			t.Fatalf("read %d: %s, application header %q", i, answer.Header.Get(recordcache.Header), answer.Header.Get("X-Application"))
		}
	}
	if calls.Load() != 2 {
		t.Fatalf("the application's middleware ran %d times for 2 reads", calls.Load())
	}
}

func TestAnApplicationsOwnRecordsRouteIsNotCached(t *testing.T) {
	t.Parallel()
	app, server := soundApp(t, []string{"notes"}, func(app core.App) {
		newCollection(t, app, "notes", types.Pointer(""), &core.TextField{Name: "text"})
		app.OnServe().BindFunc(func(se *core.ServeEvent) error {
			// the application answers this path itself, per caller
			se.Router.GET("/api/collections/notes/records", func(e *core.RequestEvent) error {
				me := "anonymous"
				if e.Auth != nil {
					me = e.Auth.Email()
				}
				return e.JSON(http.StatusOK, map[string]any{"items": []any{map[string]any{"me": me}}})
			})
			return se.Next()
		})
	})
	_, aliceToken := testsupport.NewAuthRecord(t, app, "users", "alice@example.com")
	_, bobToken := testsupport.NewAuthRecord(t, app, "users", "bob@example.com")
	for _, caller := range []struct{ token, want string }{
		{aliceToken, "alice@example.com"}, {aliceToken, "alice@example.com"}, {bobToken, "bob@example.com"}, {"", "anonymous"},
	} {
		if header, got := items(t, server, "/api/collections/notes/records", caller.token, "me"); got != caller.want || header != "" {
			t.Fatalf("%s got %q (%s)", caller.want, got, header)
		}
	}
}

func TestAReadInsideATransactionIsPocketBasesOwn(t *testing.T) {
	t.Parallel()
	app, server := soundApp(t, []string{"posts"}, func(app core.App) {
		app.OnServe().BindFunc(func(se *core.ServeEvent) error {
			se.Router.BindFunc(func(e *core.RequestEvent) error {
				return e.App.RunInTransaction(func(tx core.App) error {
					e.App = tx
					return e.Next()
				})
			})
			return se.Next()
		})
	})
	author, _ := testsupport.NewAuthRecord(t, app, "users", "author@example.com")
	testsupport.SaveRecord(t, app, "posts", map[string]any{"title": "Hello", "author": author.Id})
	for i := range 2 {
		if header, got := items(t, server, "/api/collections/posts/records", "", "title"); header != "BYPASS" || got != "Hello" {
			t.Fatalf("read %d: %s %q", i, header, got)
		}
	}
}

func TestTheCacheMiddlewareCanBeUnbound(t *testing.T) {
	t.Parallel()
	_, server := soundApp(t, []string{"posts"}, func(app core.App) {
		app.OnServe().BindFunc(func(se *core.ServeEvent) error {
			se.Router.Unbind(RecordCacheMiddlewareId) // hapta's OnServe has bound it
			return se.Next()
		})
	})
	for range 2 {
		if header, _ := items(t, server, "/api/collections/posts/records", "", "title"); header != "" {
			t.Fatalf("an unbound cache answered %s", header)
		}
	}
}

func TestCacheEntriesMatchCollectionsInAnyCaseAndOnceTheyExist(t *testing.T) {
	t.Parallel()
	app, server := soundApp(t, []string{"POSTS", "later"}, func(core.App) {})
	for i, want := range []string{"MISS", "HIT"} {
		if header, _ := items(t, server, "/api/collections/posts/records", "", "title"); header != want {
			t.Fatalf("posts read %d: %s", i, header)
		}
	}
	newCollection(t, app, "later", types.Pointer(""), &core.TextField{Name: "title"})
	for i, want := range []string{"MISS", "HIT"} {
		if header, _ := items(t, server, "/api/collections/later/records", "", "title"); header != want {
			t.Fatalf("a collection created after the start, read %d: %s", i, header)
		}
	}
}

// A read hook of the application's, whatever its id, makes reads bypass:
// hapta's own dry-run handlers have ids no application can know.
func TestAReadHookWithAnyIdBypasses(t *testing.T) {
	t.Parallel()
	var views atomic.Int32
	app, server := soundApp(t, []string{"posts"}, func(app core.App) {
		app.OnRecordViewRequest().Bind(&hook.Handler[*core.RecordRequestEvent]{
			Id: "haptaDryRunView", // hapta's id before it was drawn at start
			Func: func(e *core.RecordRequestEvent) error {
				views.Add(1)
				return e.Next()
			},
		})
	})
	author, _ := testsupport.NewAuthRecord(t, app, "users", "author@example.com")
	post := testsupport.SaveRecord(t, app, "posts", map[string]any{"title": "Hello", "author": author.Id})
	for range 3 {
		get(t, server, "/api/collections/posts/records/"+post.Id, "")
	}
	if views.Load() != 3 {
		t.Fatalf("the application's view hook ran %d times for 3 views", views.Load())
	}
}
