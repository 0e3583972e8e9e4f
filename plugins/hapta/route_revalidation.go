package hapta

import (
	"encoding/json/jsontext"
	"encoding/json/v2"
	"errors"
	"net/http"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/picker"

	"github.com/postr-inc/hapta/plugins/hapta/internal/conditional"
	"github.com/postr-inc/hapta/plugins/hapta/internal/inproc"
)

// answerRevalidated writes a route's answer with write. A 200 answer to GET
// or HEAD is written whole with a strong ETag of its bytes and, unless the
// handler chose its own, a Cache-Control that keeps clients revalidating;
// when the client's If-None-Match names it, the answer is 304 Not Modified
// with no body. Browsers and the JS SDK's fetch then revalidate a route's
// answer rather than download it again, and never see a stale one.
func answerRevalidated(e *core.RequestEvent, status int, write func() error) error {
	if status != http.StatusOK || (e.Request.Method != http.MethodGet && e.Request.Method != http.MethodHead) {
		return write()
	}
	original := e.Response
	buffer := inproc.NewResponseBuffer()
	e.Response = buffer
	err := write()
	e.Response = original
	if err != nil {
		return err
	}
	header := original.Header()
	for name, values := range buffer.Header() {
		header[name] = values
	}
	etag := conditional.ETag(buffer.Body, "")
	header.Set("ETag", etag)
	if header.Get("Cache-Control") == "" {
		header["Cache-Control"] = conditional.CacheControl(e.Auth != nil)
	}
	if buffer.Status == http.StatusOK && conditional.NotModified(e.Request, etag) {
		original.WriteHeader(http.StatusNotModified)
		return nil
	}
	original.WriteHeader(buffer.Status)
	_, err = original.Write(buffer.Body)
	return err
}

// writeStableJSON is PocketBase's Event.JSON (its `fields` pick included)
// with the keys of maps in order: equal answers are equal bytes, so that
// their ETags match (records are maps, which PocketBase writes in any order).
func writeStableJSON(e *core.RequestEvent, status int, v any) error {
	if fields := e.Request.URL.Query().Get("fields"); fields != "" && status >= 200 && status <= 299 {
		picked, err := picker.Pick(v, fields)
		if err == nil {
			v = picked
		} else if !errors.Is(err, picker.ErrInvalidModifierData) {
			return err
		}
	}
	if e.Response.Header().Get("Content-Type") == "" {
		e.Response.Header().Set("Content-Type", "application/json")
	}
	e.Response.WriteHeader(status)
	return json.MarshalWrite(e.Response, v, json.Deterministic(true),
		jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
}
