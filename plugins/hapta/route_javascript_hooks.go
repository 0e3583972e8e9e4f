package hapta

import (
	"bytes"
	_ "embed"
	"os"
	"path/filepath"

	"github.com/dop251/goja"
	"github.com/pocketbase/pocketbase/core"
)

// TypesFile is the TypeScript declarations of the JavaScript API, written
// into pb_data at each start.
const TypesFile = "hapta.d.ts"

//go:embed assets/hapta.d.ts
var typeDeclarations []byte

// writeTypes writes the declarations into the data directory, when they
// differ, so that editors complete $hapta, ctx and db.
func writeTypes(app core.App) error {
	file := filepath.Join(app.DataDir(), TypesFile)
	if current, err := os.ReadFile(file); err == nil && bytes.Equal(current, typeDeclarations) {
		return nil
	}
	return os.WriteFile(file, typeDeclarations, 0o644)
}

// JSBindings gives PocketBase's JavaScript hooks (pb_hooks) hapta's
// database service as $hapta, through jsvm's OnInit:
//
//	jsvm.MustRegister(app, jsvm.Config{OnInit: hapta.JSBindings(app)})
//
// In a hook, $hapta.db() reads and writes as an anonymous caller (the
// collections' API rules apply), $hapta.db(e.auth) as an auth record, and
// $hapta.systemDb() with no rules, as a superuser does; each has the
// methods of a JavaScript route's db (get, list, create, update, delete,
// setBatch, saveChanges, discard) over the same record cache.
func JSBindings(app core.App) func(vm *goja.Runtime) {
	return func(vm *goja.Runtime) {
		object := vm.NewObject()
		logError := func(err error) { app.Logger().Error("a $hapta database call failed", "error", err) }
		database := func() *Database { return ServicesOf(app).DB }
		_ = object.Set("db", func(call goja.FunctionCall) goja.Value {
			db := database()
			if auth, ok := call.Argument(0).Export().(*core.Record); ok && auth != nil && db.internal != nil {
				db = db.actingAs(auth)
			}
			return jsDatabase(vm, db, logError, nil)
		})
		_ = object.Set("systemDb", func(goja.FunctionCall) goja.Value {
			return jsDatabase(vm, database().AsSystem(), logError, nil)
		})
		_ = vm.Set("$hapta", object)
	}
}
