package hapta

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	validation "github.com/pocketbase/ozzo-validation/v4"
	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/internal/testsupport"
)

// The benchmark's work: bind a path id, a query page and a JSON body,
// validate them, read the principal and answer JSON.
type benchInput struct {
	ID    string `path:"id"`
	Page  int    `query:"page"`
	Title string `json:"title"`
	Body  string `json:"body"`
}

func (in benchInput) Validate() error {
	return validation.ValidateStruct(&in,
		validation.Field(&in.Title, validation.Required, validation.Length(3, 200)),
		validation.Field(&in.Body, validation.Length(0, 10000)),
		validation.Field(&in.Page, validation.Min(1)),
	)
}

type benchOutput struct {
	ID     string `json:"id"`
	Page   int    `json:"page"`
	Title  string `json:"title"`
	Author string `json:"author"`
}

func haptaBenchRoute(ctx *Context, in benchInput) error {
	return ctx.JSON(http.StatusOK, benchOutput{ID: in.ID, Page: in.Page, Title: in.Title, Author: ctx.Principal.ID})
}

// bareBenchRoute is the same work written by hand on PocketBase's router,
// as a PocketBase developer would without hapta.
func bareBenchRoute(e *core.RequestEvent) error {
	var in benchInput
	if err := e.BindBody(&in); err != nil {
		return e.BadRequestError("Invalid body.", err)
	}
	in.ID = e.Request.PathValue("id")
	if raw := e.Request.URL.Query().Get("page"); raw != "" {
		page, err := strconv.Atoi(raw)
		if err != nil {
			return e.BadRequestError("Invalid page.", validation.Errors{"page": validation.NewError("validation_invalid_type", "Must be an integer.")})
		}
		in.Page = page
	}
	if err := in.Validate(); err != nil {
		return e.BadRequestError("Invalid request input.", err)
	}
	author := ""
	if e.Auth != nil {
		author = e.Auth.Id
	}
	return e.JSON(http.StatusOK, benchOutput{ID: in.ID, Page: in.Page, Title: in.Title, Author: author})
}

// BenchmarkRoute compares a hapta route with the bare PocketBase route
// doing the same work, both on the same router with the same middlewares,
// as an authenticated user. Reproduce with:
//
//	make bench-routes
func BenchmarkRoute(b *testing.B) {
	app := newTestApp(b, b.TempDir(), `{"logLevel": "error"}`)
	if err := app.Bootstrap(); err != nil {
		b.Fatal(err)
	}
	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		Handle(se, "POST /bench/hapta/{id}", haptaBenchRoute)
		se.Router.POST("/bench/bare/{id}", bareBenchRoute)
		return se.Next()
	})
	server, err := app.serve(b)
	if err != nil {
		b.Fatal(err)
	}
	handler := server.Config.Handler

	_, token := testsupport.NewAuthRecord(b, app, "users", "bench@example.com")

	benchPOST(b, handler, token, []string{"bare", "hapta"}, func(kind string) string { return "/bench/" + kind + "/abc123?page=2" })
}

// benchBody is the JSON body the route benchmarks post.
const benchBody = `{"title": "A benchmark post", "body": "Some text for the body of the post."}`

// benchPOST runs a sub-benchmark for each caller (a user with token, and
// anonymous) and kind of route, posting benchBody to path(kind) through
// handler, without the network.
func benchPOST(b *testing.B, handler http.Handler, token string, kinds []string, path func(kind string) string) {
	for _, caller := range []struct{ name, token string }{{"user", token}, {"anonymous", ""}} {
		for _, kind := range kinds {
			b.Run(caller.name+"/"+kind, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					req := httptest.NewRequest(http.MethodPost, path(kind), strings.NewReader(benchBody))
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
