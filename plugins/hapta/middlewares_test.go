package hapta

import (
	"net/http"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/internal/testsupport"
)

// Each exported middleware id is the id hapta binds: unbinding it, as an
// app would, takes exactly that middleware's effect away.
func TestMiddlewaresUnbindByTheirIds(t *testing.T) {
	t.Parallel()
	cases := []struct {
		id     string
		effect func(t *testing.T, server string, token string) bool // whether the middleware's effect is seen
	}{
		{RequestIDMiddlewareId, func(t *testing.T, server, _ string) bool {
			return testsupport.Call(t, "GET", server+"/api/health", "", nil).Header.Get(RequestIDHeader) != ""
		}},
		{TokenMiddlewareId, func(t *testing.T, server, token string) bool {
			return testsupport.Call(t, "GET", server+"/whoami", "", nil, "Authorization", token).Status == http.StatusOK
		}},
		{LockoutMiddlewareId, func(t *testing.T, server, _ string) bool {
			// an unknown identity is locked out alike, without a bcrypt per try
			login := `{"identity": "nobody@example.com", "password": "wrong-password"}`
			var last int
			for range 12 { // the default lockout: 10 failures per account and address
				last = testsupport.CallJSON(t, "POST", server+"/api/collections/users/auth-with-password", login).Status
			}
			return last == http.StatusTooManyRequests
		}},
	}
	for _, c := range cases {
		t.Run(c.id, func(t *testing.T) {
			t.Parallel()
			for _, unbind := range []bool{false, true} {
				app := haptaApp(t, `{"logLevel": "error"}`)
				app.OnServe().BindFunc(func(se *core.ServeEvent) error {
					Handle(se, "GET /whoami", func(ctx *Context, _ emptyInput) error { return ctx.NoContent(http.StatusOK) }, RequireAuth())
					if unbind {
						se.Router.Unbind(c.id)
					}
					return se.Next()
				})
				server, err := testsupport.Serve(t, app)
				if err != nil {
					t.Fatal(err)
				}
				user, _ := testsupport.NewAuthRecord(t, app, "users", "mw@example.com")
				token, err := ServicesOf(app).Tokens.Issue(user, time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				if seen := c.effect(t, server.URL, token); seen == unbind {
					t.Fatalf("unbound %v, but the middleware's effect seen %v", unbind, seen)
				}
			}
		})
	}
}
