package hapta

import (
	"encoding/json/jsontext"
	"encoding/json/v2"
	"errors"
	"net/http"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/picker"

	"github.com/postr-inc/hapta/plugins/hapta/internal/conditional"
)

// writeAnswer writes a route's answer: body, of contentType unless the
// handler set its own Content-Type. A 200 answer to GET or HEAD carries a
// strong ETag of its bytes and, unless the handler chose its own, a
// Cache-Control that keeps clients revalidating; when the client's
// If-None-Match names it, the answer is 304 Not Modified with no body. Browsers and the JS
// SDK's fetch then revalidate a route's answer rather than download it
// again, and never see a stale one.
func writeAnswer(e *core.RequestEvent, status int, contentType string, body []byte) error {
	header := e.Response.Header()
	if header.Get("Content-Type") == "" {
		header.Set("Content-Type", contentType)
	}
	if status == http.StatusOK && (e.Request.Method == http.MethodGet || e.Request.Method == http.MethodHead) {
		etag := conditional.ETag(conditional.Tag(body), "")
		header.Set("ETag", etag)
		if header.Get("Cache-Control") == "" {
			header["Cache-Control"] = conditional.CacheControl(e.Auth != nil)
		}
		if conditional.NotModified(e.Request, etag) {
			e.Response.WriteHeader(http.StatusNotModified)
			return nil
		}
	}
	e.Response.WriteHeader(status)
	_, err := e.Response.Write(body)
	return err
}

// stableJSON encodes v as PocketBase's Event.JSON does (its `fields` pick
// included) with the keys of maps in order: equal answers are equal bytes,
// so that their ETags match (records are maps, which PocketBase writes in
// any order).
func stableJSON(e *core.RequestEvent, status int, v any) ([]byte, error) {
	if fields := e.Request.URL.Query().Get("fields"); fields != "" && status >= 200 && status <= 299 {
		picked, err := picker.Pick(v, fields)
		if err == nil {
			v = picked
		} else if !errors.Is(err, picker.ErrInvalidModifierData) {
			return nil, err
		}
	}
	return json.Marshal(v, json.Deterministic(true),
		jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
}
