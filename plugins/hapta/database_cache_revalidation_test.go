package hapta

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/postr-inc/hapta/internal/testsupport"
	"github.com/postr-inc/hapta/plugins/hapta/internal/recordcache"
)

// raw reads with no transparent decompression: the bytes on the wire.
var raw = &http.Client{Transport: &http.Transport{DisableCompression: true}}

func rawGet(t *testing.T, url string, headers ...string) testsupport.Answer {
	t.Helper()
	return testsupport.CallWith(t, raw, "GET", url, "", nil, headers...)
}

func gunzip(t *testing.T, body []byte) []byte {
	t.Helper()
	reader, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(reader)
	if err != nil {
		t.Fatal(err)
	}
	return plain
}

func TestACompressedHitIsTheAnswer(t *testing.T) {
	t.Parallel()
	app, server := cachedApp(t)
	author, _ := testsupport.NewAuthRecord(t, app, "users", "gzip@example.com")
	var post string
	for range 20 {
		post = testsupport.SaveRecord(t, app, "posts", map[string]any{"title": "A post to compress", "author": author.Id}).Id
	}
	const list = "/api/collections/posts/records?perPage=20"
	plain := rawGet(t, testsupport.ServePocketBase(t, app).URL+list)

	for i, accept := range []string{"gzip", "deflate, gzip;q=0.5", "*", "br;q=1.0, gzip;q=0.8, *;q=0.1"} {
		path := list + "&page=1" + strings.Repeat("&skipTotal=", i) // an entry of its own
		for _, want := range []string{"MISS", "HIT"} {
			answer := rawGet(t, server.URL+path, "Accept-Encoding", accept)
			if answer.Header.Get(recordcache.Header) != want || answer.Header.Get("Content-Encoding") != "gzip" {
				t.Fatalf("Accept-Encoding %q: %s %q, want %s gzip", accept, answer.Header.Get(recordcache.Header), answer.Header.Get("Content-Encoding"), want)
			}
			if len(answer.Raw) >= len(plain.Raw)/2 {
				t.Errorf("Accept-Encoding %q: %d bytes compressed, %d plain", accept, len(answer.Raw), len(plain.Raw))
			}
			if vary := answer.Header.Values("Vary"); !slices.Contains(vary, "Accept-Encoding") {
				t.Errorf("Accept-Encoding %q: Vary %q", accept, vary)
			}
			if got := gunzip(t, answer.Raw); !sameJSON(string(got), string(plain.Raw)) {
				t.Fatalf("Accept-Encoding %q: decompressed %s\nPocketBase: %s", accept, got, plain.Raw)
			}
		}
	}
	for _, accept := range []string{"", "identity", "gzip;q=0", "br", "*;q=0", "gzip;q=0, *"} {
		answer := rawGet(t, server.URL+list, "Accept-Encoding", accept)
		if answer.Header.Get("Content-Encoding") != "" || !sameJSON(string(answer.Raw), string(plain.Raw)) {
			t.Fatalf("Accept-Encoding %q: encoded %q: %s", accept, answer.Header.Get("Content-Encoding"), answer.Raw)
		}
	}
	// a strong tag names one representation (RFC 9110, 8.8.3)
	gzipped, identity := rawGet(t, server.URL+list, "Accept-Encoding", "gzip"), rawGet(t, server.URL+list)
	if gzipped.Header.Get("ETag") == identity.Header.Get("ETag") {
		t.Fatalf("gzip and identity share the ETag %q", identity.Header.Get("ETag"))
	}
	// a view is too small to gain from it
	view := rawGet(t, server.URL+"/api/collections/posts/records/"+post, "Accept-Encoding", "gzip")
	if view.Header.Get("Content-Encoding") != "" || slices.Contains(view.Header.Values("Vary"), "Accept-Encoding") {
		t.Fatalf("a %d-byte view: Content-Encoding %q, Vary %q", len(view.Raw), view.Header.Get("Content-Encoding"), view.Header.Values("Vary"))
	}
}

func TestA304OnlyWhileTheAnswerIsUnchanged(t *testing.T) {
	t.Parallel()
	app, server := cachedApp(t)
	author, token := testsupport.NewAuthRecord(t, app, "users", "etag@example.com")
	listed := testsupport.SaveRecord(t, app, "posts", map[string]any{"title": "Listed", "author": author.Id})
	const list = "/api/collections/posts/records?filter=title~'Listed'"
	first := rawGet(t, server.URL+list)
	etag := first.Header.Get("ETag")
	if first.Status != 200 || !strings.HasPrefix(etag, `"`) || first.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("first read: %d, ETag %q, Cache-Control %q", first.Status, etag, first.Header.Get("Cache-Control"))
	}
	revalidate := func(step string, tag string, want int) testsupport.Answer {
		t.Helper()
		answer := rawGet(t, server.URL+list, "If-None-Match", tag)
		if answer.Status != want {
			t.Fatalf("%s: If-None-Match %s answered %d, want %d", step, tag, answer.Status, want)
		}
		if want == http.StatusNotModified && (len(answer.Raw) != 0 || answer.Header.Get("ETag") != etag) {
			t.Fatalf("%s: a 304 with %d bytes and ETag %q", step, len(answer.Raw), answer.Header.Get("ETag"))
		}
		return answer
	}
	revalidate("unchanged", etag, http.StatusNotModified)
	revalidate("a weak comparison", "W/"+etag, http.StatusNotModified)
	revalidate("in a list of tags", `"other", `+etag, http.StatusNotModified)
	revalidate("any", "*", http.StatusNotModified)
	revalidate("another tag", `"other"`, http.StatusOK)

	// a post that the filter leaves out: the answer is the same
	other := testsupport.SaveRecord(t, app, "posts", map[string]any{"title": "Other", "author": author.Id})
	revalidate("after a write that changes nothing of it", etag, http.StatusNotModified)

	// a write the answer depends on: the new body, with a new tag
	listed.Set("body", "A new body")
	if err := app.Save(listed); err != nil {
		t.Fatal(err)
	}
	changed := revalidate("after an update of a listed post", etag, http.StatusOK)
	if !strings.Contains(string(changed.Raw), "A new body") || changed.Header.Get("ETag") == etag {
		t.Fatalf("after an update: ETag %q (was %q): %s", changed.Header.Get("ETag"), etag, changed.Raw)
	}
	etag = changed.Header.Get("ETag")
	revalidate("the new answer", etag, http.StatusNotModified)
	other.Set("title", "Listed too")
	if err := app.Save(other); err != nil {
		t.Fatal(err)
	}
	revalidate("after a post joins the list", etag, http.StatusOK)

	// a signed-in caller's answers are theirs only; a view has its own tag
	mine := rawGet(t, server.URL+"/api/collections/posts/records/"+listed.Id, "Authorization", token)
	if mine.Header.Get("Cache-Control") != "private, no-cache" || mine.Header.Get("ETag") == "" {
		t.Fatalf("a signed-in view: Cache-Control %q, ETag %q", mine.Header.Get("Cache-Control"), mine.Header.Get("ETag"))
	}
	if again := rawGet(t, server.URL+"/api/collections/posts/records/"+listed.Id, "Authorization", token, "If-None-Match", mine.Header.Get("ETag")); again.Status != http.StatusNotModified {
		t.Fatalf("a signed-in view revalidated: %d", again.Status)
	}
}

// With PocketBase's Gzip middleware bound, the cache hands it the answer
// itself, which it compresses once.
func TestPocketBasesGzipMiddlewareCompressesOnce(t *testing.T) {
	app, server := soundApp(t, []string{"notes"}, func(app core.App) {
		newCollection(t, app, "notes", types.Pointer(""), &core.TextField{Name: "title"})
		app.OnServe().BindFunc(func(se *core.ServeEvent) error {
			se.Router.Bind(apis.Gzip())
			return se.Next()
		})
	})
	for range 20 {
		testsupport.SaveRecord(t, app, "notes", map[string]any{"title": "a title long enough for the list to pass 512 bytes"})
	}
	for _, want := range []string{"MISS", "HIT"} {
		answer := rawGet(t, server.URL+"/api/collections/notes/records", "Accept-Encoding", "gzip")
		if answer.Header.Get(recordcache.Header) != want || answer.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("%s, Content-Encoding %q", answer.Header.Get(recordcache.Header), answer.Header.Get("Content-Encoding"))
		}
		if body := gunzip(t, answer.Raw); !json.Valid(body) {
			t.Fatalf("%s: gunzipped once, not JSON: %q", want, body[:min(len(body), 16)])
		}
	}
}
