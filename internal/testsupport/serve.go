package testsupport

import (
	"net/http/httptest"
	"testing"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
)

// Serve runs app's OnServe hooks on PocketBase's real router, as apis.Serve
// does, and serves the result over loopback HTTP until the test ends. The
// error is the one the hooks returned (a server that would not start).
func Serve(t testing.TB, app core.App) (*httptest.Server, error) {
	t.Helper()
	router, err := apis.NewRouter(app)
	if err != nil {
		t.Fatal(err)
	}
	event := &core.ServeEvent{App: app, Router: router}
	if err := app.OnServe().Trigger(event, func(*core.ServeEvent) error { return nil }); err != nil {
		return nil, err
	}
	mux, err := router.BuildMux()
	if err != nil {
		t.Fatal(err)
	}
	server := httptest.NewServer(mux)
	t.Cleanup(server.Close)
	return server, nil
}
