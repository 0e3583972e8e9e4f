package hapta

import (
	"net/http"
	"path/filepath"
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
	testsupport.WriteTree(b, dir, "bench/js/[id]/index.js", benchJSRoute, "bench/js/[id]/schema.json", benchJSSchema)
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

	benchPOST(b, handler, token, []string{"go", "js"}, func(kind string) string { return "/bench/" + kind + "/" + note.Id + "?page=2" })
}
