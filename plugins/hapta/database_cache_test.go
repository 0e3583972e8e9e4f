package hapta

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/plugins/jsvm"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/postr-inc/hapta/internal/testsupport"
	"github.com/postr-inc/hapta/plugins/hapta/internal/recordcache"
)

// cachedApp serves hapta with the HTTP cache on for posts, notes (each
// user's own), timed (a rule that reads the time) and users, and a pb_hooks
// route that edits a post from JavaScript.
func cachedApp(t *testing.T) (core.App, *httptest.Server) { return cachedAppTB(t) }

func cachedAppTB(t testing.TB) (core.App, *httptest.Server) {
	t.Helper()
	hooks := t.TempDir()
	err := os.WriteFile(filepath.Join(hooks, "touch.pb.js"), []byte(`
routerAdd("POST", "/js/touch/{id}", (e) => {
	const post = $app.findRecordById("posts", e.request.pathValue("id"))
	post.set("title", "Edited in JavaScript")
	$app.save(post)
	return e.json(200, {})
})`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	config := `{"logLevel": "error", "cache": {"collections": {
		"posts": {"http": true}, "notes": {"http": true, "ttl": "1m"}, "timed": {"http": true}, "users": {"http": true}}}}`

	app := haptaApp(t, config, func(app core.App) {
		jsvm.MustRegister(app, jsvm.Config{HooksDir: hooks})
	})
	newPosts(t, app)
	users, _ := app.FindCollectionByNameOrId("users")
	notes := core.NewBaseCollection("notes")
	notes.Fields.Add(&core.RelationField{Name: "owner", CollectionId: users.Id, MaxSelect: 1}, &core.TextField{Name: "text"})
	notes.ListRule = types.Pointer("owner = @request.auth.id")
	notes.ViewRule = notes.ListRule
	notes.CreateRule = types.Pointer(`@request.auth.id != "" && owner = @request.auth.id`)
	timed := core.NewBaseCollection("timed")
	timed.Fields.Add(&core.TextField{Name: "text"}, &core.AutodateField{Name: "created", OnCreate: true})
	timed.ListRule = types.Pointer("created <= @now")
	for _, c := range []*core.Collection{notes, timed} {
		if err := app.Save(c); err != nil {
			t.Fatal(err)
		}
	}
	settings := app.Settings()
	settings.Batch.Enabled = true
	if err := app.Save(settings); err != nil {
		t.Fatal(err)
	}
	server, err := testsupport.Serve(t, app)
	if err != nil {
		t.Fatal(err)
	}
	return app, server
}

// get reads an endpoint and returns its cache header and JSON body.
func get(t *testing.T, server *httptest.Server, path, token string) (string, map[string]any) {
	t.Helper()
	answer := testsupport.CallJSON(t, "GET", server.URL+path, "", "Authorization", token)
	if answer.Status != 200 {
		t.Fatalf("GET %s: %d %v", path, answer.Status, answer.Body)
	}
	return answer.Header.Get(recordcache.Header), answer.Body
}

func titles(body map[string]any) string {
	var list []string
	for _, item := range body["items"].([]any) {
		list = append(list, item.(map[string]any)["title"].(string))
	}
	return strings.Join(list, ",")
}

func TestHTTPCacheIsFreshAfterWritesFromEverySource(t *testing.T) {
	t.Parallel()
	app, server := cachedApp(t)
	author, token := testsupport.NewAuthRecord(t, app, "users", "writer@example.com")
	post := testsupport.SaveRecord(t, app, "posts", map[string]any{"title": "First", "author": author.Id})
	const list = "/api/collections/posts/records?sort=title"

	expect := func(step, wantHeader, wantTitles string) {
		t.Helper()
		header, body := get(t, server, list, "")
		if header != wantHeader || titles(body) != wantTitles {
			t.Fatalf("%s: %s %q, want %s %q", step, header, titles(body), wantHeader, wantTitles)
		}
	}
	expect("first read", "MISS", "First")
	expect("second read", "HIT", "First")

	// the REST API
	created := testsupport.CallJSON(t, "POST", server.URL+"/api/collections/posts/records",
		`{"title": "Second", "author": "`+author.Id+`"}`, "Authorization", token)
	if created.Status != 200 {
		t.Fatalf("create: %d %v", created.Status, created.Body)
	}
	expect("after a REST create", "MISS", "First,Second")
	expect("cached again", "HIT", "First,Second")

	// Go code
	post.Set("title", "Alpha")
	if err := app.Save(post); err != nil {
		t.Fatal(err)
	}
	expect("after a Go save", "MISS", "Alpha,Second")

	// /api/batch
	batch, _ := json.Marshal(map[string]any{"requests": []map[string]any{
		{"method": "PATCH", "url": "/api/collections/posts/records/" + post.Id, "body": map[string]any{"title": "Batched"}},
	}})
	if res := testsupport.CallJSON(t, "POST", server.URL+"/api/batch", string(batch), "Authorization", token); res.Status != 200 {
		t.Fatalf("batch: %d %v", res.Status, res.Body)
	}
	expect("after a batch", "MISS", "Batched,Second")

	// pb_hooks JavaScript
	if res := testsupport.CallJSON(t, "POST", server.URL+"/js/touch/"+post.Id, ""); res.Status != 200 {
		t.Fatalf("js hook: %d %v", res.Status, res.Body)
	}
	expect("after a JS hook", "MISS", "Edited in JavaScript,Second")

	// the admin UI: PocketBase's REST API as a superuser
	_, superToken := testsupport.NewAuthRecord(t, app, core.CollectionNameSuperusers, "admin-ui@example.com")
	if res := testsupport.CallJSON(t, "PATCH", server.URL+"/api/collections/posts/records/"+post.Id,
		`{"title": "From the admin UI"}`, "Authorization", superToken); res.Status != 200 {
		t.Fatalf("superuser update: %d %v", res.Status, res.Body)
	}
	expect("after an admin UI edit", "MISS", "From the admin UI,Second")

	// the single record endpoint, then a cascade delete of the author
	view := "/api/collections/posts/records/" + post.Id
	get(t, server, view, "")
	if header, _ := get(t, server, view, ""); header != "HIT" {
		t.Fatalf("view not cached: %s", header)
	}
	if err := app.Delete(author); err != nil {
		t.Fatal(err)
	}
	expect("after a cascade delete", "MISS", "")
	if res := testsupport.CallJSON(t, "GET", server.URL+view, ""); res.Status != 404 {
		t.Fatalf("a deleted post still answers %d", res.Status)
	}
}

func TestHTTPCacheNeverMixesCallers(t *testing.T) {
	t.Parallel()
	app, server := cachedApp(t)
	alice, aliceToken := testsupport.NewAuthRecord(t, app, "users", "alice@example.com")
	bob, bobToken := testsupport.NewAuthRecord(t, app, "users", "bob@example.com")
	aliceNote := testsupport.SaveRecord(t, app, "notes", map[string]any{"owner": alice.Id, "text": "alice's"})
	testsupport.SaveRecord(t, app, "notes", map[string]any{"owner": bob.Id, "text": "bob's"})

	texts := func(token string) (string, string) {
		header, body := get(t, server, "/api/collections/notes/records", token)
		var list []string
		for _, item := range body["items"].([]any) {
			list = append(list, item.(map[string]any)["text"].(string))
		}
		return header, strings.Join(list, ",")
	}
	for i, want := range []string{"MISS", "HIT"} {
		if header, got := texts(aliceToken); header != want || got != "alice's" {
			t.Fatalf("alice, read %d: %s %q", i, header, got)
		}
		if header, got := texts(bobToken); header != want || got != "bob's" {
			t.Fatalf("bob, read %d: %s %q", i, header, got)
		}
		if header, got := texts(""); header != want || got != "" {
			t.Fatalf("anonymous, read %d: %s %q", i, header, got)
		}
	}

	view := "/api/collections/notes/records/" + aliceNote.Id
	get(t, server, view, aliceToken)
	if res := testsupport.CallJSON(t, "GET", server.URL+view, "", "Authorization", bobToken); res.Status != 404 {
		t.Fatalf("bob read alice's cached note: %d %v", res.Status, res.Body)
	}

	// an expanded relation edited elsewhere is fresh on the next read
	expanded := "/api/collections/notes/records/" + aliceNote.Id + "?expand=owner"
	get(t, server, expanded, aliceToken)
	alice.Set("name", "Alice Renamed")
	if err := app.Save(alice); err != nil {
		t.Fatal(err)
	}
	header, body := get(t, server, expanded, aliceToken)
	owner := body["expand"].(map[string]any)["owner"].(map[string]any)
	if header != "MISS" || owner["name"] != "Alice Renamed" {
		t.Fatalf("expanded owner after an edit: %s %v", header, owner)
	}

	// an expanded user's email shows only to that user, even where the
	// users' view rule is public
	users, _ := app.FindCollectionByNameOrId("users")
	users.ViewRule = types.Pointer("")
	if err := app.Save(users); err != nil {
		t.Fatal(err)
	}
	withOwner := "/api/collections/notes/records/" + aliceNote.Id + "?expand=owner"
	_, mine := get(t, server, withOwner, aliceToken)
	if mine["expand"].(map[string]any)["owner"].(map[string]any)["email"] != "alice@example.com" {
		t.Fatalf("alice does not see her own email in the expand: %v", mine)
	}
	notes, _ := app.FindCollectionByNameOrId("notes")
	notes.ViewRule = types.Pointer("")
	if err := app.Save(notes); err != nil {
		t.Fatal(err)
	}
	get(t, server, withOwner, aliceToken) // cached for alice
	if _, theirs := get(t, server, withOwner, bobToken); theirs["expand"].(map[string]any)["owner"].(map[string]any)["email"] != nil {
		t.Fatalf("bob got alice's email through a cached expand: %v", theirs)
	}

	// a user record's email shows only to its owner: never cached across
	aliceView := "/api/collections/users/records/" + alice.Id
	_, own := get(t, server, aliceView, aliceToken)
	if own["email"] != "alice@example.com" {
		t.Fatalf("alice does not see her email: %v", own)
	}
	if res := testsupport.CallJSON(t, "GET", server.URL+aliceView, "", "Authorization", bobToken); res.Status == 200 && res.Body["email"] != nil {
		t.Fatalf("bob got alice's email: %v", res.Body)
	}
}

func TestHTTPCacheBypassesRulesThatReadTheTime(t *testing.T) {
	t.Parallel()
	app, server := cachedApp(t)
	testsupport.SaveRecord(t, app, "timed", map[string]any{"text": "now"})
	for i := 0; i < 2; i++ {
		if header, _ := get(t, server, "/api/collections/timed/records", ""); header != "BYPASS" {
			t.Fatalf("read %d: %s", i, header)
		}
	}
	// a collection not configured for the HTTP cache has no header at all
	newCollection(t, app, "uncached", types.Pointer(""))
	if header, _ := get(t, server, "/api/collections/uncached/records", ""); header != "" {
		t.Fatalf("an unconfigured collection: %q", header)
	}
}

func TestCacheStats(t *testing.T) {
	t.Parallel()
	app, server := cachedApp(t)
	get(t, server, "/api/collections/posts/records", "")
	get(t, server, "/api/collections/posts/records", "")
	_, superToken := testsupport.NewAuthRecord(t, app, core.CollectionNameSuperusers, "root@example.com")
	_, userToken := testsupport.NewAuthRecord(t, app, "users", "u@example.com")

	if res := testsupport.CallJSON(t, "GET", server.URL+CacheStatsPath, "", "Authorization", userToken); res.Status != 403 {
		t.Fatalf("a user read the stats: %d", res.Status)
	}
	res := testsupport.CallJSON(t, "GET", server.URL+CacheStatsPath, "", "Authorization", superToken)
	if res.Status != 200 || res.Body["hits"].(float64) < 1 || res.Body["misses"].(float64) < 1 ||
		res.Body["entries"].(float64) < 1 || res.Body["bytes"].(float64) <= 0 || res.Body["maxBytes"].(float64) != 64<<20 {
		t.Fatalf("stats: %d %v", res.Status, res.Body)
	}
}

func TestTheByteBoundHoldsUnderLargeRecords(t *testing.T) {
	t.Parallel()
	config := `{"logLevel": "error", "cache": {"maxBytes": 1048576, "collections": {"posts": {"http": true}}}}`
	app := haptaApp(t, config)
	newPosts(t, app)
	server, err := testsupport.Serve(t, app)
	if err != nil {
		t.Fatal(err)
	}
	author, _ := testsupport.NewAuthRecord(t, app, "users", "big@example.com")
	body := strings.Repeat("large record ", 700) // about 9 KB each
	for i := 0; i < 200; i++ {                   // about 1.8 MB of answers for a 1 MiB cache
		post := testsupport.SaveRecord(t, app, "posts", map[string]any{"title": "Big post", "body": body, "author": author.Id})
		get(t, server, "/api/collections/posts/records/"+post.Id, "")
	}
	stats := pluginOf(app).cache.Stats()
	for deadline := time.Now().Add(5 * time.Second); stats.Evictions == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		stats = pluginOf(app).cache.Stats() // otter reports evictions in the background
	}
	if stats.Bytes > 1<<20 || stats.Evictions == 0 || stats.Entries == 0 {
		t.Fatalf("byte bound: %+v", stats)
	}
}
