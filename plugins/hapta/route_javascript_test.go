package hapta_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/internal/testsupport"
	"github.com/postr-inc/hapta/plugins/hapta"
)

// jsRoutesApp serves hapta with a routes folder of files (path, content, ...).
func jsRoutesApp(t *testing.T, files ...string) (*testsupport.Served, error) {
	t.Helper()
	dir := t.TempDir()
	testsupport.WriteTree(t, dir, files...)
	app := testsupport.NewApp(t, func(app core.App) {
		hapta.MustRegister(app, nil, hapta.Config{ConfigFile: testsupport.WriteFile(t, "hapta-config.json", `{"logLevel": "error", "cache": {"collections": {"notes": {}}}}`),
			Settings: hapta.Settings{Routes: hapta.RoutesSettings{Dir: dir, Timeout: "300ms", VMs: 2}}})
	})
	server, err := testsupport.Serve(t, app)
	if err != nil {
		return nil, err
	}
	return &testsupport.Served{App: app, Server: server}, nil
}

func TestJavaScriptRoutesOverHTTP(t *testing.T) {
	t.Parallel()
	s, err := jsRoutesApp(t,
		"hello/index.js", `const { greet } = require("./greet.js");
			module.exports = {
				GET: (ctx) => ctx.json({ hello: greet(ctx.metadata.query.name || "world") }, 201),
				POST: (ctx) => ({ got: ctx.metadata.json, agent: ctx.metadata.headers["x-agent"], auth: ctx.metadata.headers["authorization"] || null }),
			}`,
		"hello/greet.js", `module.exports.greet = (name) => "hi " + name`,
		"posts/[id]/index.js", `module.exports = { GET: (ctx) => ({ id: ctx.metadata.params.id, user: ctx.principal.id || null }) }`,
		"files/[...rest]/index.js", `module.exports = { GET: (ctx) => ctx.text("file " + ctx.metadata.params.rest) }`,
		"fail/index.js", `module.exports = {
				GET: () => { throw { status: 422, message: "Nope.", data: { title: { code: "x", message: "bad" } } } },
				POST: () => { throw new Error("boom") },
				PUT: () => { for (;;) {} },
				PATCH: () => new Error("returned"),
			}`,
	)
	if err != nil {
		t.Fatal(err)
	}
	url := s.Server.URL
	_, token := testsupport.NewAuthRecord(t, s.App, "users", "js@example.com")

	if a := testsupport.CallJSON(t, "GET", url+"/hello?name=ann", ""); a.Status != 201 || a.Body["hello"] != "hi ann" {
		t.Fatalf("GET /hello: %d %s", a.Status, a.Raw)
	}
	if a := testsupport.CallJSON(t, "POST", url+"/hello", `{"x": [1, 2]}`, "X-Agent", "tests", "Authorization", token); a.Status != 200 ||
		a.Object("got")["x"] == nil || a.Body["agent"] != "tests" || a.Body["auth"] != nil {
		t.Fatalf("POST /hello: %d %s", a.Status, a.Raw)
	}
	if a := testsupport.Call(t, "HEAD", url+"/hello", "", nil); a.Status != 201 || len(a.Raw) != 0 {
		t.Fatalf("HEAD /hello: %d %q", a.Status, a.Raw)
	}
	if a := testsupport.CallJSON(t, "DELETE", url+"/hello", ""); a.Status != 405 || a.Header.Get("Allow") != "GET, POST" {
		t.Fatalf("DELETE /hello: %d %s (Allow %q)", a.Status, a.Raw, a.Header.Get("Allow"))
	}
	if a := testsupport.CallJSON(t, "GET", url+"/hello/greet.js", ""); a.Status != 404 {
		t.Fatalf("a helper file: %d %s", a.Status, a.Raw)
	}
	if a := testsupport.CallJSON(t, "GET", url+"/posts/p1", "", "Authorization", token); a.Status != 200 || a.Body["id"] != "p1" || a.Body["user"] == nil {
		t.Fatalf("GET /posts/p1: %d %s", a.Status, a.Raw)
	}
	if a := testsupport.Call(t, "GET", url+"/files/a/b/c.txt", "", nil); a.Status != 200 || string(a.Raw) != "file a/b/c.txt" {
		t.Fatalf("a catch-all: %d %s", a.Status, a.Raw)
	}
	if a := testsupport.CallJSON(t, "GET", url+"/fail", ""); a.Status != 422 || a.Body["message"] != "Nope." ||
		a.Object("data")["title"] == nil || a.Object("data")["title"].(map[string]any)["code"] != "x" {
		t.Fatalf("a thrown ApiError: %d %s", a.Status, a.Raw)
	}
	if a := testsupport.CallJSON(t, "POST", url+"/fail", ""); a.Status != 500 || strings.Contains(string(a.Raw), "boom") {
		t.Fatalf("a thrown Error: %d %s", a.Status, a.Raw)
	}
	if a := testsupport.CallJSON(t, "PATCH", url+"/fail", ""); a.Status != 500 || strings.Contains(string(a.Raw), "returned") {
		t.Fatalf("a returned Error: %d %s", a.Status, a.Raw)
	}
	started := time.Now()
	if a := testsupport.CallJSON(t, "PUT", url+"/fail", ""); a.Status != 504 || time.Since(started) > 5*time.Second {
		t.Fatalf("a runaway handler: %d %s after %v", a.Status, a.Raw, time.Since(started))
	}
	if a := testsupport.CallJSON(t, "GET", url+"/api/health", ""); a.Status != 200 {
		t.Fatalf("PocketBase's routes: %d", a.Status)
	}
}

func TestABrokenRoutesFolderStopsTheStart(t *testing.T) {
	t.Parallel()
	_, err := jsRoutesApp(t, "bad/index.js", "module.exports = {\n  GET: () => (1 +\n}")
	if err == nil || !strings.Contains(err.Error(), "bad/index.js") {
		t.Fatalf("a broken route file: %v", err)
	}
	_, err = jsRoutesApp(t, "a/[x]/c/index.js", `module.exports = {}`, "a/b/[y]/index.js", `module.exports = {}`)
	if err == nil || !strings.Contains(err.Error(), "conflicts") {
		t.Fatalf("overlapping routes: %v", err)
	}
}

// From a review: PocketBase's guards apply to JavaScript routes; async
// handlers answer their outcome; ctx and db end with their request; an
// answer that is not JSON, or a status that is not an answer's, is a 500.
func TestJavaScriptRoutesEdges(t *testing.T) {
	t.Parallel()
	s, err := jsRoutesApp(t,
		"async/index.js", `module.exports = {
				GET: async (ctx) => ({ a: 1 }),
				POST: async () => { throw { status: 401, message: "Sign in." } },
			}`,
		"keep/index.js", `let kept
			module.exports = {
				POST: (ctx, db) => { kept = db; return "kept" },
				GET: () => (kept ? kept.list("users").totalItems : "none"),
			}`,
		"odd/index.js", `module.exports = {
				GET: (ctx) => ctx.json({ x: 0 / 0 }),
				POST: (ctx) => ctx.json({}, 103),
				PUT: (ctx) => ctx.text({ a: 1 }),
			}`,
	)
	if err != nil {
		t.Fatal(err)
	}
	url := s.Server.URL
	if a := testsupport.CallJSON(t, "GET", url+"/async", ""); a.Status != 200 || a.Body["a"] != 1.0 {
		t.Fatalf("an async handler: %d %s", a.Status, a.Raw)
	}
	if a := testsupport.CallJSON(t, "POST", url+"/async", ""); a.Status != 401 {
		t.Fatalf("an async handler that throws: %d %s", a.Status, a.Raw)
	}
	_, token := testsupport.NewAuthRecord(t, s.App, "users", "keeper@example.com")
	for range 2 { // on each VM of the pool
		if a := testsupport.CallJSON(t, "POST", url+"/keep", "", "Authorization", token); a.Status != 200 {
			t.Fatalf("keeping db: %d %s", a.Status, a.Raw)
		}
	}
	if a := testsupport.CallJSON(t, "GET", url+"/keep", ""); a.Status != 500 {
		t.Fatalf("another request using the kept db: %d %s", a.Status, a.Raw)
	}
	for method, name := range map[string]string{"GET": "NaN", "POST": "status 103"} {
		if a := testsupport.Call(t, method, url+"/odd", "", nil); a.Status != 500 {
			t.Errorf("%s: %d %s", name, a.Status, a.Raw)
		}
	}
	if a := testsupport.Call(t, "PUT", url+"/odd", "", nil); a.Status != 200 || string(a.Raw) != "[object Object]" {
		t.Fatalf("text of an object: %d %s", a.Status, a.Raw)
	}
	// PocketBase's security headers, as on its own routes
	if a := testsupport.CallJSON(t, "GET", url+"/async", ""); a.Header.Get("X-Frame-Options") == "" {
		t.Fatalf("no security headers: %v", a.Header)
	}
}

func TestJavaScriptRouteSchemas(t *testing.T) {
	t.Parallel()
	s, err := jsRoutesApp(t,
		"notes/index.js", `module.exports = { POST: (ctx) => ({ title: ctx.metadata.json.title, limit: ctx.metadata.query.limit, type: typeof ctx.metadata.query.limit }) }`,
		"notes/schema.json", `{
			"body": {"type": "object", "required": ["title"], "properties": {
				"title": {"type": "string", "minLength": 3},
				"email": {"type": "string", "format": "email"},
				"author": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}
			}},
			"query": {"type": "object", "properties": {"limit": {"type": "integer", "maximum": 50}}}
		}`,
		"items/[id]/index.js", `module.exports = { GET: (ctx) => ({ id: ctx.metadata.params.id }) }`,
		"items/[id]/schema.js", `module.exports = { params: { type: "object", properties: { id: { type: "string", pattern: "^[a-z]+$" } } } }`,
	)
	if err != nil {
		t.Fatal(err)
	}
	url := s.Server.URL
	if a := testsupport.CallJSON(t, "POST", url+"/notes?limit=10", `{"title": "hello"}`); a.Status != 200 || a.Body["limit"] != 10.0 || a.Body["type"] != "number" {
		t.Fatalf("a valid note: %d %s", a.Status, a.Raw)
	}
	for _, c := range []struct {
		name, query, body, field, code string
	}{
		{"no title", "", `{}`, "title", "validation_required"},
		{"no body at all", "", ``, "title", "validation_required"},
		{"a short title", "", `{"title": "ab"}`, "title", "validation_minlength"},
		{"a bad email", "", `{"title": "hello", "email": "nope"}`, "email", "validation_format"},
		{"a nested field", "", `{"title": "hello", "author": {}}`, "author.name", "validation_required"},
		{"a limit too high", "?limit=100", `{"title": "hello"}`, "limit", "validation_maximum"},
		{"a limit that is not a number", "?limit=ten", `{"title": "hello"}`, "limit", "validation_type"},
	} {
		a := testsupport.CallJSON(t, "POST", url+"/notes"+c.query, c.body)
		if field := a.Object("data")[c.field]; a.Status != 400 || field == nil || field.(map[string]any)["code"] != c.code {
			t.Errorf("%s: %d %s, want %s on %s", c.name, a.Status, a.Raw, c.code, c.field)
		}
	}
	if a := testsupport.CallJSON(t, "GET", url+"/items/abc", ""); a.Status != 200 || a.Body["id"] != "abc" {
		t.Fatalf("a valid param: %d %s", a.Status, a.Raw)
	}
	if a := testsupport.CallJSON(t, "GET", url+"/items/ABC1", ""); a.Status != 400 || a.Object("data")["id"] == nil {
		t.Fatalf("an invalid param (schema.js): %d %s", a.Status, a.Raw)
	}

	// the OpenAPI document describes them with their schemas
	var document struct {
		Paths map[string]map[string]struct {
			Parameters []struct {
				Name   string         `json:"name"`
				In     string         `json:"in"`
				Schema map[string]any `json:"schema"`
			} `json:"parameters"`
			RequestBody struct {
				Content map[string]struct {
					Schema map[string]any `json:"schema"`
				} `json:"content"`
			} `json:"requestBody"`
		} `json:"paths"`
	}
	testsupport.CallJSON(t, "GET", url+hapta.OpenAPIPath, "").Decode(t, &document)
	notes := document.Paths["/notes"]["post"]
	if body := notes.RequestBody.Content["application/json"].Schema; body == nil || body["required"] == nil ||
		len(notes.Parameters) != 1 || notes.Parameters[0].Name != "limit" || notes.Parameters[0].Schema["maximum"] != 50.0 {
		t.Fatalf("POST /notes in the OpenAPI document: %+v", notes)
	}
	if item := document.Paths["/items/{id}"]["get"]; len(item.Parameters) != 1 || item.Parameters[0].In != "path" || item.Parameters[0].Schema["pattern"] != "^[a-z]+$" {
		t.Fatalf("GET /items/{id} in the OpenAPI document: %+v", item)
	}
}

func TestJavaScriptRoutesUseTheDatabaseService(t *testing.T) {
	t.Parallel()
	s, err := jsRoutesApp(t,
		"notes/index.js", `module.exports = {
				GET: (ctx, db) => db.list("notes", { sort: "title" }).items.map((n) => n.title),
				POST: (ctx, db) => db.create("notes", { title: ctx.metadata.json.title }),
			}`,
		"notes/[id]/index.js", `module.exports = { GET: (ctx, db) => db.get("notes", ctx.metadata.params.id) }`,
		"notes/many/index.js", `module.exports = {
				POST: (ctx, db) => {
					db.setBatch(true);
					for (const title of ctx.metadata.json.titles) db.create("notes", { title });
					return db.saveChanges().length;
				},
			}`,
	)
	if err != nil {
		t.Fatal(err)
	}
	notes := core.NewBaseCollection("notes")
	notes.Fields.Add(&core.TextField{Name: "title", Required: true, Max: 20})
	open := ""
	notes.ListRule, notes.ViewRule, notes.CreateRule = &open, &open, &open
	if err := s.App.Save(notes); err != nil {
		t.Fatal(err)
	}
	url := s.Server.URL

	created := testsupport.CallJSON(t, "POST", url+"/notes", `{"title": "first"}`)
	if created.Status != 200 || created.Body["id"] == nil {
		t.Fatalf("create: %d %s", created.Status, created.Raw)
	}
	id := created.Body["id"].(string)
	if a := testsupport.CallJSON(t, "GET", url+"/notes/"+id, ""); a.Status != 200 || a.Body["title"] != "first" {
		t.Fatalf("get: %d %s", a.Status, a.Raw)
	}
	// the read is the cache's: a change made behind PocketBase's back (raw
	// SQL, no hooks) does not show...
	if _, err := s.App.DB().NewQuery("UPDATE notes SET title = 'raw' WHERE id = {:id}").Bind(dbx.Params{"id": id}).Execute(); err != nil {
		t.Fatal(err)
	}
	if a := testsupport.CallJSON(t, "GET", url+"/notes/"+id, ""); a.Body["title"] != "first" {
		t.Fatalf("a cached read: %s", a.Raw)
	}
	// ...while a write from elsewhere through PocketBase (Go, the admin UI) is seen by the next read
	record, err := s.App.FindRecordById("notes", id)
	if err != nil {
		t.Fatal(err)
	}
	record.Set("title", "edited")
	if err := s.App.Save(record); err != nil {
		t.Fatal(err)
	}
	if a := testsupport.CallJSON(t, "GET", url+"/notes/"+id, ""); a.Body["title"] != "edited" {
		t.Fatalf("a read after a write from elsewhere: %s", a.Raw)
	}
	if a := testsupport.CallJSON(t, "GET", url+"/notes/nope", ""); a.Status != 404 {
		t.Fatalf("a missing record: %d %s", a.Status, a.Raw)
	}

	// a unit is all or nothing: the third title is too long
	if a := testsupport.CallJSON(t, "POST", url+"/notes/many", `{"titles": ["a", "b", "a title far too long for it"]}`); a.Status != 400 {
		t.Fatalf("a failing unit: %d %s", a.Status, a.Raw)
	}
	if a := testsupport.CallJSON(t, "POST", url+"/notes/many", `{"titles": ["c", "d"]}`); a.Status != 200 || string(a.Raw) != "2" {
		t.Fatalf("a unit: %d %s", a.Status, a.Raw)
	}
	list := testsupport.Call(t, "GET", url+"/notes", "", nil)
	if list.Status != 200 || string(list.Raw) != `["c","d","edited"]` {
		t.Fatalf("the notes after both units: %d %s", list.Status, list.Raw)
	}
}

func TestJavaScriptMiddlewaresRunOutermostFirst(t *testing.T) {
	t.Parallel()
	s, err := jsRoutesApp(t,
		"_middleware.js", `module.exports = (ctx, db, next) => { ctx.trail = ["root"]; const answer = next(); ctx.trail.push("root after"); return answer }`,
		"admin/_middleware.js", `module.exports = (ctx, db, next) => {
				ctx.trail.push("admin");
				if (!ctx.principal.isAuthenticated) return ctx.json({ message: "Sign in first." }, 401);
				return next();
			}`,
		"admin/stats/index.js", `module.exports = { GET: (ctx) => { ctx.trail.push("handler"); return ctx.trail } }`,
		"open/index.js", `module.exports = { GET: (ctx) => ctx.trail }`,
		"admin/conflict/index.js", `module.exports = { GET: () => { throw { status: 409, message: "Taken." } } }`,
	)
	if err != nil {
		t.Fatal(err)
	}
	url := s.Server.URL
	_, token := testsupport.NewAuthRecord(t, s.App, "users", "mw@example.com")
	if a := testsupport.Call(t, "GET", url+"/admin/stats", "", nil, "Authorization", token); a.Status != 200 || string(a.Raw) != `["root","admin","handler","root after"]` {
		t.Fatalf("the chain: %d %s", a.Status, a.Raw)
	}
	if a := testsupport.CallJSON(t, "GET", url+"/admin/stats", ""); a.Status != 401 || a.Body["message"] != "Sign in first." {
		t.Fatalf("a middleware answering alone: %d %s", a.Status, a.Raw)
	}
	if a := testsupport.CallJSON(t, "GET", url+"/admin/conflict", "", "Authorization", token); a.Status != 409 || a.Body["message"] != "Taken." {
		t.Fatalf("an error thrown through the middlewares: %d %s", a.Status, a.Raw)
	}
	if a := testsupport.Call(t, "GET", url+"/open", "", nil); a.Status != 200 || string(a.Raw) != `["root","root after"]` {
		t.Fatalf("only the root middleware outside admin/: %d %s", a.Status, a.Raw)
	}
}
