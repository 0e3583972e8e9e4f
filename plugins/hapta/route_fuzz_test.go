package hapta

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// FuzzRouteInput feeds arbitrary path values, query strings, headers,
// content types and bodies through the router, binder and validator of a
// real route: every answer must be a success or a client error in
// PocketBase's JSON shape, never a panic or a 500. The seeds run with
// go test; explore with go test -fuzz=FuzzRouteInput ./plugins/hapta.
func FuzzRouteInput(f *testing.F) {
	f.Add("n1", "page=2&tag=a&tag=b&draft=true", "acme", "application/json", []byte(`{"title": "Hello", "rating": 3}`))
	f.Add("n1", "page=-1", "", "application/json", []byte(`{"title": 1, "rating": "x", "due": "yesterday", "meta": []}`))
	f.Add("x", "draft=%zz&page=1e9", "\x00", "application/json; charset=utf-8", []byte(`{"title": "a"`))
	f.Add("x", "", "", "application/json", []byte(`[1, 2, 3]`))
	f.Add("x", "", "", "application/json", []byte(`null`))
	f.Add("x", "", "", "application/problem+json", []byte(`{"title": "\ud800"}`))
	f.Add("x", "", "", "application/x-www-form-urlencoded", []byte("title=Form+title&rating=2&file=x"))
	f.Add("x", "", "", "application/x-www-form-urlencoded", []byte("%%%=&&="))
	f.Add("x", "", "", "multipart/form-data; boundary=b", []byte("--b\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nHi there\r\n--b--\r\n"))
	f.Add("x", "", "", "multipart/form-data", []byte("--b\r\n"))
	f.Add("x", "", "", "text/plain", []byte("hello"))
	f.Add("x", "", "", "", []byte("hello"))
	f.Add("x", "", "", "", []byte(""))
	f.Add("x", "", "", "application/json", bytes.Repeat([]byte(`{"title": "`), 500))

	_, server := routesApp(f)
	handler := server.Config.Handler

	f.Fuzz(func(t *testing.T, id, rawQuery, tenant, contentType string, body []byte) {
		req := &http.Request{
			Method:        http.MethodPost,
			URL:           &url.URL{Path: "/notes/" + id, RawQuery: rawQuery},
			Header:        http.Header{"Content-Type": {contentType}, "X-Tenant-Id": {tenant}},
			Body:          http.NoBody,
			ContentLength: int64(len(body)),
			RemoteAddr:    "127.0.0.1:4000",
			Host:          "hapta.test",
		}
		if len(body) > 0 {
			req.Body = readCloser{bytes.NewReader(body)}
		}
		req = req.WithContext(t.Context())

		recorder := httptest.NewRecorder()
		handler.ServeHTTP(recorder, req)

		switch recorder.Code {
		case http.StatusOK:
		case http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
			// net/http's mux redirects unclean paths such as /notes/. before routing
		case http.StatusBadRequest, http.StatusNotFound, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
			var answer apiError
			if err := json.Unmarshal(recorder.Body.Bytes(), &answer); err != nil || answer.Status != recorder.Code {
				t.Fatalf("%d answer is not an ApiError: %s", recorder.Code, recorder.Body)
			}
		default:
			t.Fatalf("status %d for id %q query %q content type %q body %q: %s",
				recorder.Code, id, rawQuery, contentType, body, recorder.Body)
		}
	})
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }
