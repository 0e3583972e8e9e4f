// Command pocketbase is the Hapta distribution: PocketBase with the hapta
// plugin. It keeps every PocketBase command and flag.
package main

import (
	"log"

	"github.com/pocketbase/pocketbase"
	"github.com/pocketbase/pocketbase/plugins/jsvm"
	"github.com/pocketbase/pocketbase/plugins/migratecmd"
	"github.com/pocketbase/pocketbase/tools/osutils"

	_ "github.com/postr-inc/hapta/migrations"
	"github.com/postr-inc/hapta/plugins/clover"
	"github.com/postr-inc/hapta/plugins/hapta"
	"github.com/postr-inc/hapta/routes"
)

func main() {
	app := pocketbase.New()

	// run from source (go run): watch pb_hooks and write Go migrations for
	// collection changes made in the admin UI
	fromSource := osutils.IsProbablyGoRun()

	// pb_hooks get hapta's database service as $hapta
	jsvm.MustRegister(app, jsvm.Config{HooksWatch: fromSource, OnInit: hapta.JSBindings(app)})
	migratecmd.MustRegister(app, app.RootCmd, migratecmd.Config{
		TemplateLang: migratecmd.TemplateLangGo,
		Automigrate:  fromSource,
	})
	clover.MustRegister(app, app.RootCmd, clover.Config{})
	hapta.MustRegister(app, app.RootCmd, hapta.Config{})
	routes.Register(app)

	if err := app.Start(); err != nil {
		log.Fatal(err)
	}
}
