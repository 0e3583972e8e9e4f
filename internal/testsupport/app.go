package testsupport

import (
	"testing"

	"github.com/pocketbase/pocketbase/core"
	_ "github.com/pocketbase/pocketbase/migrations" // PocketBase's system migrations (pocketbase.New imports them)
	"golang.org/x/crypto/bcrypt"
)

// NewApp is a PocketBase app in a temporary data directory: register adds
// the plugins before it bootstraps, then every migration runs (the test
// imports the migrations it needs). Its auth collections hash passwords at
// bcrypt's least cost: tests create and log in users often, under -race
// too. It is closed when the test ends.
func NewApp(t testing.TB, register func(app core.App)) core.App {
	t.Helper()
	app := core.NewBaseApp(core.BaseAppConfig{DataDir: t.TempDir()})
	register(app)
	if err := app.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Terminate(app) })
	if err := app.RunAllMigrations(); err != nil {
		t.Fatal(err)
	}
	cheapPasswords(t, app)
	return app
}

func cheapPasswords(t testing.TB, app core.App) {
	t.Helper()
	collections, err := app.FindAllCollections(core.CollectionTypeAuth)
	if err != nil {
		t.Fatal(err)
	}
	for _, collection := range collections {
		collection.Fields.GetByName(core.FieldNamePassword).(*core.PasswordField).Cost = bcrypt.MinCost
		if err := app.Save(collection); err != nil {
			t.Fatal(err)
		}
	}
}

// UpdateCollection applies change to the collection named name and saves it.
func UpdateCollection(t testing.TB, app core.App, name string, change func(*core.Collection)) {
	t.Helper()
	collection, err := app.FindCollectionByNameOrId(name)
	if err != nil {
		t.Fatal(err)
	}
	change(collection)
	if err := app.Save(collection); err != nil {
		t.Fatal(err)
	}
}

// TrustForwardedFor makes app read clients' addresses from X-Forwarded-For,
// so that a test can call from several addresses.
func TrustForwardedFor(t testing.TB, app core.App) {
	t.Helper()
	settings := app.Settings()
	settings.TrustedProxy.Headers = []string{"X-Forwarded-For"}
	if err := app.Save(settings); err != nil {
		t.Fatal(err)
	}
}

// Terminate stops app as PocketBase's serve command does on SIGTERM: its
// OnTerminate hooks, then the bootstrap state reset.
func Terminate(app core.App) {
	_ = app.OnTerminate().Trigger(&core.TerminateEvent{App: app}, func(e *core.TerminateEvent) error {
		return e.App.ResetBootstrapState()
	})
}
