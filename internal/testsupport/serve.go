package testsupport

import (
	"net/http/httptest"
	"testing"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/router"
)

// Serve runs app's OnServe hooks on PocketBase's real router, as apis.Serve
// does, and serves the result over loopback HTTP until the test ends. The
// error is the one the hooks returned (a server that would not start).
func Serve(t testing.TB, app core.App) (*httptest.Server, error) {
	t.Helper()
	r := newRouter(t, app)
	event := &core.ServeEvent{App: app, Router: r}
	if err := app.OnServe().Trigger(event, func(*core.ServeEvent) error { return nil }); err != nil {
		return nil, err
	}
	return serveRouter(t, r), nil
}

// Served is an app served over loopback HTTP, its mail caught.
type Served struct {
	core.App
	Server *httptest.Server
	Mails  *Mailbox
}

// ServeWithMail catches app's mail and serves it as Serve does; a start
// that the hooks refuse fails the test.
func ServeWithMail(t testing.TB, app core.App) *Served {
	t.Helper()
	mails := CatchMail(app)
	server, err := Serve(t, app)
	if err != nil {
		t.Fatal(err)
	}
	return &Served{App: app, Server: server, Mails: mails}
}

// ServePocketBase serves PocketBase's own router for app, without the
// routes and middlewares of its OnServe hooks (hapta's included): what
// PocketBase alone answers on the same data.
func ServePocketBase(t testing.TB, app core.App) *httptest.Server {
	t.Helper()
	return serveRouter(t, newRouter(t, app))
}

func newRouter(t testing.TB, app core.App) *router.Router[*core.RequestEvent] {
	t.Helper()
	r, err := apis.NewRouter(app)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func serveRouter(t testing.TB, r *router.Router[*core.RequestEvent]) *httptest.Server {
	t.Helper()
	mux, err := r.BuildMux()
	if err != nil {
		t.Fatal(err)
	}
	server := httptest.NewServer(mux)
	t.Cleanup(server.Close)
	return server
}
