package hapta_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/plugins/jsvm"

	"github.com/postr-inc/hapta/internal/testsupport"
	"github.com/postr-inc/hapta/plugins/hapta"
)

// $hapta in pb_hooks: the database service as an anonymous caller, as an
// auth record, and with no rules.
func TestHooksUseHaptaThroughJSBindings(t *testing.T) {
	t.Parallel()
	hooks := t.TempDir()
	hook := `routerAdd("GET", "/hooked/{id}", (e) => e.json(200, $hapta.db().get("secrets", e.request.pathValue("id"))))
routerAdd("GET", "/hooked-system/{id}", (e) => e.json(200, $hapta.systemDb().get("secrets", e.request.pathValue("id"))))
routerAdd("GET", "/hooked-as-me/{id}", (e) => e.json(200, $hapta.db(e.auth).get("secrets", e.request.pathValue("id"))))
routerAdd("POST", "/hooked-unit", (e) => {
	const db = $hapta.systemDb()
	db.setBatch(true)
	db.create("secrets", { owner: "", text: "one" })
	db.create("secrets", { owner: "", text: "two" })
	return e.json(200, db.saveChanges().length)
})
`
	if err := os.WriteFile(filepath.Join(hooks, "hapta.pb.js"), []byte(hook), 0o644); err != nil {
		t.Fatal(err)
	}
	app := testsupport.NewApp(t, func(app core.App) {
		jsvm.MustRegister(app, jsvm.Config{HooksDir: hooks, OnInit: hapta.JSBindings(app)})
		hapta.MustRegister(app, nil, hapta.Config{ConfigFile: testsupport.WriteFile(t, "hapta-config.json", `{"logLevel": "error"}`)})
	})
	secrets := core.NewBaseCollection("secrets")
	secrets.Fields.Add(&core.TextField{Name: "owner"}, &core.TextField{Name: "text"})
	ownerOnly := "owner = @request.auth.id"
	secrets.ViewRule = &ownerOnly
	if err := app.Save(secrets); err != nil {
		t.Fatal(err)
	}
	server, err := testsupport.Serve(t, app)
	if err != nil {
		t.Fatal(err)
	}
	me, token := testsupport.NewAuthRecord(t, app, "users", "hooks@example.com")
	secret := testsupport.SaveRecord(t, app, "secrets", map[string]any{"owner": me.Id, "text": "mine"})

	if a := testsupport.CallJSON(t, "GET", server.URL+"/hooked/"+secret.Id, ""); a.Status != 404 {
		t.Fatalf("an anonymous read under the view rule: %d %s", a.Status, a.Raw)
	}
	if a := testsupport.CallJSON(t, "GET", server.URL+"/hooked-as-me/"+secret.Id, "", "Authorization", token); a.Status != 200 || a.Body["text"] != "mine" {
		t.Fatalf("a read as the owner: %d %s", a.Status, a.Raw)
	}
	if a := testsupport.CallJSON(t, "GET", server.URL+"/hooked-system/"+secret.Id, ""); a.Status != 200 || a.Body["text"] != "mine" {
		t.Fatalf("a system read: %d %s", a.Status, a.Raw)
	}
	if a := testsupport.CallJSON(t, "POST", server.URL+"/hooked-unit", ""); a.Status != 200 || string(a.Raw) != "2" {
		t.Fatalf("a unit from a hook: %d %s", a.Status, a.Raw)
	}
	types, err := os.ReadFile(filepath.Join(app.DataDir(), hapta.TypesFile))
	if err != nil || !strings.Contains(string(types), "declare const $hapta") || !strings.Contains(string(types), "interface HaptaContext") {
		t.Fatalf("the TypeScript declarations: %v", err)
	}
}
