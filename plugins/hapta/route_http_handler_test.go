package hapta

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/postr-inc/hapta/internal/testsupport"
)

// The adapter serves hapta handlers from a plain net/http server: no
// PocketBase app or router is involved here.
func TestNewHTTPHandlerWithOnlyNetHTTP(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mount := func(pattern string, h http.Handler, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		mux.Handle(pattern, h)
	}
	h, err := NewHTTPHandler("POST /notes/{id}", echoHandler, MaxBodySize(2048))
	mount("POST /notes/{id}", h, err)
	h, err = NewHTTPHandler("GET /private", func(ctx *Context, _ emptyInput) error { return ctx.NoContent(204) }, RequireAuth())
	mount("GET /private", h, err)
	h, err = NewHTTPHandler("GET /panic", func(*Context, emptyInput) error { panic("adapter boom") })
	mount("GET /panic", h, err)
	h, err = NewHTTPHandler("GET /db", func(ctx *Context, _ emptyInput) error {
		_, asPrincipal := ctx.DB().List("posts", ListOptions{})
		_, anonymous := ctx.Services.DB.Get("posts", "x", ReadOptions{})
		_, system := ctx.Services.DB.AsSystem().Create("posts", nil)
		_, login := ctx.Services.Authenticate.Password(CallerOf(ctx), PasswordLogin{Identity: "a@example.com", Password: "x"})
		_, oauth2 := ctx.Services.Authenticate.OAuth2(CallerOf(ctx), OAuth2Login{})
		_, token := ctx.Services.Tokens.Verify("x")
		_, issued := ctx.Services.Tokens.Issue(nil, 0)
		outside := []bool{}
		for _, err := range []error{asPrincipal, anonymous, system, login, oauth2, token, issued} {
			outside = append(outside, errors.Is(err, ErrOutsidePocketBase))
		}
		return ctx.JSON(http.StatusOK, outside)
	})
	mount("GET /db", h, err)
	server := httptest.NewServer(mux)
	defer server.Close()

	res := testsupport.Call(t, "POST", server.URL+"/notes/std?page=2", "application/json", strings.NewReader(`{"title": "Plain Go"}`), "X-Request-ID", "std-1")
	var got echo
	res.Decode(t, &got)
	if res.Status != 200 || got.Input.ID != "std" || got.Input.Page != 2 || got.Input.Title != "Plain Go" ||
		got.Metadata.Params["id"] != "std" || got.Metadata.IP != "127.0.0.1" || res.Header.Get(RequestIDHeader) != "std-1" {
		t.Fatalf("%d %s", res.Status, res.Raw)
	}

	res = testsupport.Call(t, "POST", server.URL+"/notes/std", "application/json", strings.NewReader(`{"title": 5}`))
	var bad apiError
	res.Decode(t, &bad)
	if res.Status != 400 || bad.Data["title"]["code"] != "validation_invalid_type" || res.Header.Get(RequestIDHeader) == "" {
		t.Fatalf("bad input: %d %s", res.Status, res.Raw)
	}

	res = testsupport.Call(t, "POST", server.URL+"/notes/std", "application/json", strings.NewReader(`{"title": "`+strings.Repeat("y", 4000)+`"}`))
	if res.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("body limit: %d %s", res.Status, res.Raw)
	}

	if res := testsupport.Call(t, "GET", server.URL+"/private", "", nil); res.Status != 401 {
		t.Fatalf("RequireAuth outside PocketBase: %d", res.Status)
	}
	// the services are a clear error here, not a nil pointer
	if res := testsupport.Call(t, "GET", server.URL+"/db", "", nil); res.Status != 200 || string(res.Raw) != "[true,true,true,true,true,true,true]" {
		t.Fatalf("the database outside PocketBase: %d %s", res.Status, res.Raw)
	}
	res = testsupport.Call(t, "GET", server.URL+"/panic", "", nil)
	if res.Status != 500 || strings.Contains(string(res.Raw), "adapter boom") {
		t.Fatalf("panic: %d %s", res.Status, res.Raw)
	}
}

func TestNewHTTPHandlerRefusesABadSchema(t *testing.T) {
	t.Parallel()
	if _, err := NewHTTPHandler("GET /x", func(*Context, missingParam) error { return nil }); err == nil {
		t.Fatal("a path field without its {name} in the pattern must be refused")
	}
}

// A Context built by hand (a unit test of a handler) answers errors, not
// nil-pointer panics.
func TestAZeroContextAnswersErrors(t *testing.T) {
	t.Parallel()
	var ctx Context
	for name, err := range map[string]error{
		"JSON": ctx.JSON(200, nil), "HTML": ctx.HTML(200, ""), "Text": ctx.Text(200, ""), "NoContent": ctx.NoContent(204),
	} {
		if !errors.Is(err, ErrNoRequest) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ctx.DB().List("posts", ListOptions{}); !errors.Is(err, ErrOutsidePocketBase) {
		t.Errorf("DB: %v", err)
	}
	if caller := CallerOf(&ctx); caller.RemoteAddr != "" || caller.Header != nil {
		t.Error("CallerOf a zero Context")
	}
}
