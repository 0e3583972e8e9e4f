package hapta

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	validation "github.com/pocketbase/ozzo-validation/v4"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/filesystem"

	"github.com/postr-inc/hapta/internal/testsupport"
)

// noteInput exercises every source and the usual field types.
type noteInput struct {
	ID       string             `path:"id"`
	Page     int                `query:"page"`
	Tags     []string           `query:"tag"`
	Draft    *bool              `query:"draft"`
	Tenant   string             `header:"X-Tenant-ID"`
	Title    string             `json:"title"`
	Rating   int8               `json:"rating"`
	Due      time.Time          `json:"due"`
	Meta     map[string]any     `json:"meta"`
	Internal string             // no tag: never bound
	File     *filesystem.File   `form:"file"`
	Extra    []*filesystem.File `form:"extra"`
}

func (in noteInput) Validate() error {
	return validation.ValidateStruct(&in,
		validation.Field(&in.Title, validation.Required, validation.Length(3, 50)),
		validation.Field(&in.Page, validation.Min(1), validation.Max(100)),
		validation.Field(&in.Rating, validation.Min(int8(0)), validation.Max(int8(5))),
		validation.Field(&in.Tenant, validation.Length(0, 20)),
	)
}

// echo is what the test routes answer: what the handler received.
type echo struct {
	Input     noteInput `json:"input"`
	Draft     *bool     `json:"draft"`
	FileName  string    `json:"fileName"`
	Extras    int       `json:"extras"`
	Internal  string    `json:"internal"`
	Principal Principal `json:"principal"`
	Metadata  struct {
		RequestID string            `json:"requestId"`
		Method    string            `json:"method"`
		Path      string            `json:"path"`
		Params    map[string]string `json:"params"`
		Query     url.Values        `json:"query"`
		JSON      json.RawMessage   `json:"json"`
		IP        string            `json:"ip"`
		UserAgent string            `json:"userAgent"`
		HasTime   bool              `json:"hasTime"`
	} `json:"metadata"`
}

func echoHandler(ctx *Context, in noteInput) error {
	var out echo
	out.Input, out.Draft, out.Internal, out.Principal = in, in.Draft, in.Internal, ctx.Principal
	if in.File != nil {
		out.FileName = in.File.OriginalName
	}
	out.Extras = len(in.Extra)
	m := ctx.Metadata
	out.Metadata.RequestID, out.Metadata.Method, out.Metadata.Path = m.RequestID, m.Method, m.Path
	out.Metadata.Params, out.Metadata.Query, out.Metadata.JSON = m.Params, m.Query, m.JSON
	out.Metadata.IP, out.Metadata.UserAgent, out.Metadata.HasTime = m.IP, m.UserAgent, !m.Timestamp.IsZero()
	return ctx.JSON(http.StatusOK, out)
}

type emptyInput struct{}

// routesApp serves the test routes over real HTTP.
func routesApp(t testing.TB) (*testApp, *httptest.Server) {
	t.Helper()
	app := newTestApp(t, t.TempDir(), `{"origin": "https://app.example.com"}`)
	if err := app.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		Handle(se, "POST /notes/{id}", echoHandler, MaxBodySize(4096))
		Handle(se, "PUT /notes/{id}", echoHandler, RequireAuth())
		Handle(se, "GET /notes/{id}/admin", func(ctx *Context, _ emptyInput) error {
			return ctx.JSON(http.StatusOK, echo{Principal: ctx.Principal})
		}, RequireSuperuser())
		Handle(se, "GET /panic", func(*Context, emptyInput) error { panic("boom: secret internals") })
		Handle(se, "GET /fail", func(*Context, emptyInput) error { return errors.New("database exploded") })
		Handle(se, "GET /missing", func(*Context, emptyInput) error { return sql.ErrNoRows })
		Handle(se, "GET /text", func(ctx *Context, _ emptyInput) error { return ctx.Text(http.StatusOK, "plain") })
		Handle(se, "GET /html", func(ctx *Context, _ emptyInput) error { return ctx.HTML(http.StatusOK, "<p>hi</p>") })
		Handle(se, "DELETE /nothing", func(ctx *Context, _ emptyInput) error { return ctx.NoContent(http.StatusNoContent) })
		Handle(se, "GET /teapot", func(ctx *Context, _ emptyInput) error {
			return ctx.Error(http.StatusTeapot, "No coffee here.", validation.Errors{"cup": validation.NewError("validation_cup", "Wrong cup.")})
		})
		return se.Next()
	})
	server, err := app.serve(t)
	if err != nil {
		t.Fatal(err)
	}
	return app, server
}

// apiError is PocketBase's error shape.
type apiError struct {
	Status  int                       `json:"status"`
	Message string                    `json:"message"`
	Data    map[string]map[string]any `json:"data"`
}

func TestValidInputReachesTheHandlerTyped(t *testing.T) {
	t.Parallel()
	_, server := routesApp(t)

	res := testsupport.Call(t, "POST", server.URL+"/notes/n1?page=3&tag=a&tag=b&draft=true", "application/json",
		strings.NewReader(`{"title": "Hello", "rating": 4, "due": "2026-12-01T10:00:00Z", "meta": {"k": [1, 2]}, "Internal": "x", "id": "from-body"}`),
		"X-Tenant-ID", "acme", "User-Agent", "hapta-test/1", "X-Request-ID", "req-42")
	if res.Status != http.StatusOK {
		t.Fatalf("status %d: %s", res.Status, res.Raw)
	}
	var got echo
	res.Decode(t, &got)

	in := got.Input
	if in.ID != "n1" || in.Page != 3 || strings.Join(in.Tags, ",") != "a,b" || got.Draft == nil || !*got.Draft ||
		in.Tenant != "acme" || in.Title != "Hello" || in.Rating != 4 ||
		!in.Due.Equal(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)) || in.Meta["k"] == nil {
		t.Fatalf("input not bound: %+v", in)
	}
	if got.Internal != "" {
		t.Fatal("an untagged field was bound from the body")
	}
	m := got.Metadata
	if m.RequestID != "req-42" || res.Header.Get(RequestIDHeader) != "req-42" {
		t.Fatalf("request id: metadata %q, header %q", m.RequestID, res.Header.Get(RequestIDHeader))
	}
	if m.Method != "POST" || m.Path != "/notes/n1" || m.Params["id"] != "n1" || m.Query.Get("page") != "3" ||
		!strings.Contains(string(m.JSON), `"rating":4`) || m.IP != "127.0.0.1" || m.UserAgent != "hapta-test/1" || !m.HasTime {
		t.Fatalf("metadata: %+v", m)
	}
	if got.Principal.IsAuthenticated {
		t.Fatal("an anonymous request has an authenticated principal")
	}
}

func TestFormBodiesBind(t *testing.T) {
	t.Parallel()
	_, server := routesApp(t)

	form := url.Values{"title": {"From a form"}, "rating": {"2"}}
	res := testsupport.Call(t, "POST", server.URL+"/notes/n2", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	var got echo
	res.Decode(t, &got)
	if res.Status != http.StatusOK || got.Input.Title != "From a form" || got.Input.Rating != 2 {
		t.Fatalf("urlencoded: %d %s", res.Status, res.Raw)
	}

	var body bytes.Buffer
	writer := multipart.NewWriter(&body)
	_ = writer.WriteField("title", "With files")
	part, _ := writer.CreateFormFile("file", "hello.txt")
	_, _ = part.Write([]byte("hello"))
	for _, name := range []string{"a.txt", "b.txt"} {
		part, _ = writer.CreateFormFile("extra", name)
		_, _ = part.Write([]byte(name))
	}
	_ = writer.Close()
	res = testsupport.Call(t, "POST", server.URL+"/notes/n3", writer.FormDataContentType(), &body)
	got = echo{}
	res.Decode(t, &got)
	if res.Status != http.StatusOK || got.Input.Title != "With files" || got.FileName != "hello.txt" || got.Extras != 2 {
		t.Fatalf("multipart: %d %s", res.Status, res.Raw)
	}
}

func TestBadInputAnswers(t *testing.T) {
	t.Parallel()
	_, server := routesApp(t)
	notes := server.URL + "/notes/n1"

	t.Run("field errors from binding and validation together", func(t *testing.T) {
		res := testsupport.Call(t, "POST", notes+"?page=zero&draft=maybe", "application/json",
			strings.NewReader(`{"title": "x", "rating": 300}`), "X-Tenant-ID", strings.Repeat("t", 30))
		var got apiError
		res.Decode(t, &got)
		if res.Status != http.StatusBadRequest || got.Status != 400 || got.Message != "Invalid request input." {
			t.Fatalf("%d %s", res.Status, res.Raw)
		}
		want := map[string]string{
			"page":        "validation_invalid_type",
			"draft":       "validation_invalid_type",
			"rating":      "validation_invalid_type",
			"title":       "validation_length_out_of_range",
			"X-Tenant-ID": "validation_length_too_long",
		}
		for field, code := range want {
			if got.Data[field]["code"] != code || got.Data[field]["message"] == "" {
				t.Errorf("field %s: got %v, want code %s", field, got.Data[field], code)
			}
		}
		if len(got.Data) != len(want) {
			t.Errorf("fields: got %v", got.Data)
		}
	})

	t.Run("required field missing", func(t *testing.T) {
		res := testsupport.Call(t, "POST", notes, "application/json", strings.NewReader(`{}`))
		var got apiError
		res.Decode(t, &got)
		if res.Status != 400 || got.Data["title"]["code"] != "validation_required" {
			t.Fatalf("%d %s", res.Status, res.Raw)
		}
	})

	t.Run("validation of query limits", func(t *testing.T) {
		res := testsupport.Call(t, "POST", notes+"?page=101", "application/json", strings.NewReader(`{"title": "Fine"}`))
		var got apiError
		res.Decode(t, &got)
		if res.Status != 400 || got.Data["page"]["code"] != "validation_max_less_equal_than_required" {
			t.Fatalf("%d %s", res.Status, res.Raw)
		}
	})

	t.Run("malformed JSON names the position", func(t *testing.T) {
		res := testsupport.Call(t, "POST", notes, "application/json", strings.NewReader("{\"title\": \"ok\",\n  \"rating\": }"))
		var got apiError
		res.Decode(t, &got)
		if res.Status != 400 || !strings.Contains(got.Message, "line 2, column 13") {
			t.Fatalf("%d %s", res.Status, res.Raw)
		}
	})

	t.Run("JSON that is not an object", func(t *testing.T) {
		res := testsupport.Call(t, "POST", notes, "application/json", strings.NewReader(`["title"]`))
		if res.Status != 400 || !strings.Contains(string(res.Raw), "must be an object") {
			t.Fatalf("%d %s", res.Status, res.Raw)
		}
	})

	t.Run("413 over the body limit", func(t *testing.T) {
		big := `{"title": "` + strings.Repeat("x", 5000) + `"}`
		res := testsupport.Call(t, "POST", notes, "application/json", strings.NewReader(big))
		var got apiError
		res.Decode(t, &got)
		if res.Status != http.StatusRequestEntityTooLarge || got.Status != 413 {
			t.Fatalf("%d %s", res.Status, res.Raw)
		}
	})

	t.Run("415 for an unsupported content type", func(t *testing.T) {
		res := testsupport.Call(t, "POST", notes, "text/plain", strings.NewReader("title=hello"))
		var got apiError
		res.Decode(t, &got)
		if res.Status != http.StatusUnsupportedMediaType || !strings.Contains(got.Message, "text/plain") {
			t.Fatalf("%d %s", res.Status, res.Raw)
		}
		res = testsupport.Call(t, "POST", notes, "", strings.NewReader("title=hello"))
		if res.Status != http.StatusUnsupportedMediaType {
			t.Fatalf("a body without a content type: %d %s", res.Status, res.Raw)
		}
	})

	t.Run("405 with Allow for a known path", func(t *testing.T) {
		res := testsupport.Call(t, "PATCH", notes, "", nil)
		var got apiError
		res.Decode(t, &got)
		if res.Status != http.StatusMethodNotAllowed || got.Status != 405 || res.Header.Get("Allow") != "OPTIONS, POST, PUT" {
			t.Fatalf("%d Allow=%q %s", res.Status, res.Header.Get("Allow"), res.Raw)
		}
	})

	t.Run("404 for no route", func(t *testing.T) {
		res := testsupport.Call(t, "GET", server.URL+"/nowhere", "", nil)
		var got apiError
		res.Decode(t, &got)
		if res.Status != http.StatusNotFound || got.Status != 404 {
			t.Fatalf("%d %s", res.Status, res.Raw)
		}
	})
}

func TestEveryResponseCarriesCORSAndRequestID(t *testing.T) {
	t.Parallel()
	app, server := routesApp(t)
	const origin = "https://app.example.com"

	cases := []struct {
		name, method, path, body string
		status                   int
	}{
		{"200", "POST", "/notes/n1", `{"title": "Fine"}`, 200},
		{"400", "POST", "/notes/n1", `{}`, 400},
		{"404", "GET", "/nowhere", "", 404},
		{"405", "DELETE", "/notes/n1", "", 405},
		{"recovered panic", "GET", "/panic", "", 500},
		{"PocketBase API", "GET", "/api/health", "", 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := testsupport.Call(t, c.method, server.URL+c.path, "application/json", strings.NewReader(c.body), "Origin", origin)
			if res.Status != c.status {
				t.Fatalf("status %d, want %d: %s", res.Status, c.status, res.Raw)
			}
			if res.Header.Get("Access-Control-Allow-Origin") != origin {
				t.Errorf("no CORS: %v", res.Header)
			}
			if !strings.Contains(res.Header.Get("Access-Control-Expose-Headers"), RequestIDHeader) {
				t.Errorf("X-Request-ID not exposed to browsers: %v", res.Header)
			}
			if id := res.Header.Get(RequestIDHeader); !isValidRequestID(id) {
				t.Errorf("X-Request-ID = %q", id)
			}
		})
	}

	t.Run("the panic answer hides the stack and the log has the request id", func(t *testing.T) {
		res := testsupport.Call(t, "GET", server.URL+"/panic", "", nil, "X-Request-ID", "panic-req-7")
		var got apiError
		res.Decode(t, &got)
		if got.Status != 500 || strings.Contains(string(res.Raw), "boom") || strings.Contains(string(res.Raw), "goroutine") {
			t.Fatalf("500 body leaks: %s", res.Raw)
		}
		log := app.console.String()
		if !strings.Contains(log, "panic in a route handler") || !strings.Contains(log, "requestId=panic-req-7") || !strings.Contains(log, "boom") {
			t.Fatalf("panic not logged with its request id: %s", log)
		}
	})

	t.Run("an invalid X-Request-ID is replaced", func(t *testing.T) {
		res := testsupport.Call(t, "GET", server.URL+"/api/health", "", nil, "X-Request-ID", "bad id\twith spaces")
		if id := res.Header.Get(RequestIDHeader); id == "" || strings.Contains(id, " ") {
			t.Fatalf("X-Request-ID = %q", id)
		}
	})
}

func TestHandlerErrorsAndResponses(t *testing.T) {
	t.Parallel()
	app, server := routesApp(t)

	res := testsupport.Call(t, "GET", server.URL+"/fail", "", nil, "X-Request-ID", "fail-1")
	if res.Status != 500 || strings.Contains(string(res.Raw), "exploded") {
		t.Fatalf("a plain error must answer 500 without its text: %d %s", res.Status, res.Raw)
	}
	if !strings.Contains(app.console.String(), "requestId=fail-1") {
		t.Fatalf("the error was not logged with its request id: %s", app.console.String())
	}

	if res := testsupport.Call(t, "GET", server.URL+"/missing", "", nil); res.Status != 404 {
		t.Fatalf("sql.ErrNoRows: %d", res.Status)
	}
	if res := testsupport.Call(t, "GET", server.URL+"/text", "", nil); res.Status != 200 || string(res.Raw) != "plain" ||
		!strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("Text: %d %q %v", res.Status, res.Raw, res.Header)
	}
	if res := testsupport.Call(t, "GET", server.URL+"/html", "", nil); string(res.Raw) != "<p>hi</p>" ||
		!strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("HTML: %q %v", res.Raw, res.Header)
	}
	if res := testsupport.Call(t, "DELETE", server.URL+"/nothing", "", nil); res.Status != 204 || len(res.Raw) != 0 {
		t.Fatalf("NoContent: %d %q", res.Status, res.Raw)
	}
	res = testsupport.Call(t, "GET", server.URL+"/teapot", "", nil)
	var got apiError
	res.Decode(t, &got)
	if res.Status != 418 || got.Message != "No coffee here." || got.Data["cup"]["code"] != "validation_cup" {
		t.Fatalf("Error: %d %s", res.Status, res.Raw)
	}
}

func TestPrincipalAndGuards(t *testing.T) {
	t.Parallel()
	app, server := routesApp(t)

	user, userToken := testsupport.NewAuthRecord(t, app, "users", "user@example.com")
	superuser, superToken := testsupport.NewAuthRecord(t, app, core.CollectionNameSuperusers, "root@example.com")

	body := func() io.Reader { return strings.NewReader(`{"title": "Guarded"}`) }

	if res := testsupport.Call(t, "PUT", server.URL+"/notes/n1", "application/json", body()); res.Status != 401 {
		t.Fatalf("RequireAuth without a token: %d", res.Status)
	}
	if res := testsupport.Call(t, "PUT", server.URL+"/notes/n1", "application/json", body(), "Authorization", "not-a-token"); res.Status != 401 {
		t.Fatalf("RequireAuth with a bad token: %d", res.Status)
	}

	res := testsupport.Call(t, "PUT", server.URL+"/notes/n1", "application/json", body(), "Authorization", "Bearer "+userToken)
	var got echo
	res.Decode(t, &got)
	p := got.Principal
	if res.Status != 200 || !p.IsAuthenticated || p.ID != user.Id || p.Collection != "users" || p.Email != "user@example.com" ||
		p.Strategy != StrategyToken || p.ExpiresAt.Before(time.Now()) || p.IsSuperuser() {
		t.Fatalf("user principal: %d %+v", res.Status, p)
	}

	if res := testsupport.Call(t, "GET", server.URL+"/notes/n1/admin", "", nil); res.Status != 401 {
		t.Fatalf("RequireSuperuser anonymous: %d", res.Status)
	}
	if res := testsupport.Call(t, "GET", server.URL+"/notes/n1/admin", "", nil, "Authorization", userToken); res.Status != 403 {
		t.Fatalf("RequireSuperuser as a user: %d", res.Status)
	}
	res = testsupport.Call(t, "GET", server.URL+"/notes/n1/admin", "", nil, "Authorization", superToken)
	got = echo{}
	res.Decode(t, &got)
	if res.Status != 200 || got.Principal.Collection != core.CollectionNameSuperusers || got.Principal.ID != superuser.Id {
		t.Fatalf("superuser: %d %s", res.Status, res.Raw)
	}
}

type twoSources struct {
	Name string `json:"name" query:"name"`
}

type unparseableQuery struct {
	Filter map[string]string `query:"filter"`
}

type missingParam struct {
	ID string `path:"id"`
}

func TestRouteMistakesStopTheServer(t *testing.T) {
	t.Parallel()
	cases := map[string]func(se *core.ServeEvent){
		"two sources":        func(se *core.ServeEvent) { Handle(se, "GET /a", func(*Context, twoSources) error { return nil }) },
		"unparseable query":  func(se *core.ServeEvent) { Handle(se, "GET /b", func(*Context, unparseableQuery) error { return nil }) },
		"path not in route":  func(se *core.ServeEvent) { Handle(se, "GET /c", func(*Context, missingParam) error { return nil }) },
		"not a struct input": func(se *core.ServeEvent) { Handle(se, "GET /d", func(*Context, string) error { return nil }) },
		"relative path":      func(se *core.ServeEvent) { Handle(se, "GET d", func(*Context, emptyInput) error { return nil }) },
	}
	for name, register := range cases {
		t.Run(name, func(t *testing.T) {
			app := newTestApp(t, t.TempDir(), `{}`)
			if err := app.Bootstrap(); err != nil {
				t.Fatal(err)
			}
			app.OnServe().BindFunc(func(se *core.ServeEvent) error {
				register(se)
				return se.Next()
			})
			_, err := app.serve(t)
			if err == nil || !strings.Contains(err.Error(), "hapta: route") {
				t.Fatalf("want a start error naming the route, got %v", err)
			}
		})
	}
}
