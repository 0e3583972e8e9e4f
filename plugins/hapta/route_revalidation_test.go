package hapta

import (
	"net/http"
	"strings"
	"testing"

	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/internal/testsupport"
)

// A route that answers from ctx.DB() revalidates as PocketBase's cached
// record endpoints do: a 304 while its answer is the same, the new answer
// after a write it reads.
func TestARouteAnswerIsRevalidated(t *testing.T) {
	t.Parallel()
	app := haptaApp(t, `{"logLevel": "error", "cache": {"collections": {"posts": {}}}}`)
	newPosts(t, app)
	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		Handle(se, "GET /feed", func(ctx *Context, _ emptyInput) error {
			page, err := ctx.DB().List("posts", ListOptions{Sort: "title"})
			if err != nil {
				return err
			}
			return ctx.JSON(http.StatusOK, page)
		})
		Handle(se, "POST /feed", func(ctx *Context, _ emptyInput) error { return ctx.JSON(http.StatusOK, map[string]any{}) })
		Handle(se, "GET /hello", func(ctx *Context, _ emptyInput) error { return ctx.Text(http.StatusOK, "hello") })
		return se.Next()
	})
	server, err := testsupport.Serve(t, app)
	if err != nil {
		t.Fatal(err)
	}
	author, token := testsupport.NewAuthRecord(t, app, "users", "feed@example.com")
	post := testsupport.SaveRecord(t, app, "posts", map[string]any{"title": "First", "author": author.Id})

	first := rawGet(t, server.URL+"/feed")
	etag := first.Header.Get("ETag")
	if first.Status != 200 || etag == "" || first.Header.Get("Cache-Control") != "no-cache" || !strings.Contains(string(first.Raw), "First") {
		t.Fatalf("GET /feed: %d, ETag %q, Cache-Control %q: %s", first.Status, etag, first.Header.Get("Cache-Control"), first.Raw)
	}
	if again := rawGet(t, server.URL+"/feed", "If-None-Match", etag); again.Status != http.StatusNotModified || len(again.Raw) != 0 {
		t.Fatalf("revalidated while unchanged: %d %s", again.Status, again.Raw)
	}
	post.Set("title", "Changed")
	if err := app.Save(post); err != nil {
		t.Fatal(err)
	}
	changed := rawGet(t, server.URL+"/feed", "If-None-Match", etag)
	if changed.Status != 200 || !strings.Contains(string(changed.Raw), "Changed") || changed.Header.Get("ETag") == etag {
		t.Fatalf("revalidated after a write: %d, ETag %q: %s", changed.Status, changed.Header.Get("ETag"), changed.Raw)
	}

	mine := rawGet(t, server.URL+"/hello", "Authorization", token)
	if mine.Header.Get("Cache-Control") != "private, no-cache" || mine.Header.Get("ETag") == "" || string(mine.Raw) != "hello" {
		t.Fatalf("a signed-in GET /hello: Cache-Control %q, ETag %q: %s", mine.Header.Get("Cache-Control"), mine.Header.Get("ETag"), mine.Raw)
	}
	if posted := testsupport.CallWith(t, raw, "POST", server.URL+"/feed", "", nil, "If-None-Match", "*"); posted.Status != 200 || posted.Header.Get("ETag") != "" {
		t.Fatalf("a POST: %d, ETag %q", posted.Status, posted.Header.Get("ETag"))
	}
}
