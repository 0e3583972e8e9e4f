package testsupport

import (
	"testing"

	"github.com/pocketbase/pocketbase/core"
	_ "github.com/pocketbase/pocketbase/migrations" // PocketBase's system migrations (pocketbase.New imports them)
)

// NewApp is a PocketBase app in a temporary data directory: register adds
// the plugins before it bootstraps, then every migration runs (the test
// imports the migrations it needs). It is closed when the test ends.
func NewApp(t testing.TB, register func(app core.App)) core.App {
	t.Helper()
	app := core.NewBaseApp(core.BaseAppConfig{DataDir: t.TempDir()})
	register(app)
	if err := app.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.ResetBootstrapState() })
	if err := app.RunAllMigrations(); err != nil {
		t.Fatal(err)
	}
	return app
}
