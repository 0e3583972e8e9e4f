package hapta

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/internal/testsupport"
)

// The same route in Go and in JavaScript: bind a path id, a query page and
// a JSON body, validate them, read the principal, read a record through
// the cached database service, answer JSON.
const (
	benchJSRoute = `module.exports = {
		POST: (ctx, db) => {
			const note = db.get("bench_notes", ctx.metadata.params.id)
			return { id: note.id, page: ctx.metadata.query.page, title: ctx.metadata.json.title, author: ctx.principal.id || "" }
		},
	}`
	benchJSSchema = `{
		"query": {"type": "object", "properties": {"page": {"type": "integer", "minimum": 1}}},
		"body": {"type": "object", "required": ["title"], "properties": {
			"title": {"type": "string", "minLength": 3, "maxLength": 200},
			"body": {"type": "string", "maxLength": 10000}
		}}
	}`
)

func goBenchRouteWithRead(ctx *Context, in benchInput) error {
	note, err := ctx.DB().Get("bench_notes", in.ID, ReadOptions{})
	if err != nil {
		return err
	}
	return ctx.JSON(http.StatusOK, benchOutput{ID: note["id"].(string), Page: in.Page, Title: in.Title, Author: ctx.Principal.ID})
}

// BenchmarkJavaScriptRoute compares a JavaScript route with the same Go
// route, on the same router and middlewares, as an authenticated user and
// anonymously. Reproduce with:
//
//	make bench-js-routes
func BenchmarkJavaScriptRoute(b *testing.B) {
	dir := b.TempDir()
	for file, content := range map[string]string{"bench/js/[id]/index.js": benchJSRoute, "bench/js/[id]/schema.json": benchJSSchema} {
		full := filepath.Join(dir, filepath.FromSlash(file))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	config := `{"logLevel": "error", "routes": {"dir": "` + filepath.ToSlash(dir) + `", "reload": false},
		"cache": {"collections": {"bench_notes": {}}}}`
	app := newTestApp(b, b.TempDir(), config)
	if err := app.Bootstrap(); err != nil {
		b.Fatal(err)
	}
	notes := core.NewBaseCollection("bench_notes")
	notes.Fields.Add(&core.TextField{Name: "title"})
	open := ""
	notes.ViewRule = &open
	if err := app.Save(notes); err != nil {
		b.Fatal(err)
	}
	note := testsupport.SaveRecord(b, app, "bench_notes", map[string]any{"title": "cached"})
	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		Handle(se, "POST /bench/go/{id}", goBenchRouteWithRead)
		return se.Next()
	})
	server, err := app.serve(b)
	if err != nil {
		b.Fatal(err)
	}
	handler := server.Config.Handler
	_, token := testsupport.NewAuthRecord(b, app, "users", "bench@example.com")

	const body = `{"title": "A benchmark post", "body": "Some text for the body of the post."}`
	for _, caller := range []struct{ name, token string }{{"user", token}, {"anonymous", ""}} {
		for _, kind := range []string{"go", "js"} {
			b.Run(caller.name+"/"+kind, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					req := httptest.NewRequest(http.MethodPost, "/bench/"+kind+"/"+note.Id+"?page=2", strings.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					if caller.token != "" {
						req.Header.Set("Authorization", caller.token)
					}
					recorder := httptest.NewRecorder()
					handler.ServeHTTP(recorder, req)
					if recorder.Code != http.StatusOK || !strings.Contains(recorder.Body.String(), `"page":2`) {
						b.Fatalf("%s: %d %s", kind, recorder.Code, recorder.Body)
					}
				}
			})
		}
	}
}
