package testsupport

import (
	"testing"

	"github.com/pocketbase/pocketbase/core"
	"golang.org/x/crypto/bcrypt"
	_ "github.com/pocketbase/pocketbase/migrations" // PocketBase's system migrations (pocketbase.New imports them)
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
	t.Cleanup(func() { _ = app.ResetBootstrapState() })
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
