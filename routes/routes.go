// Package routes is the example application: one folder per route, its
// input schema (schema.go) beside its handler (handler.go).
package routes

import (
	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/routes/auth"
	"github.com/postr-inc/hapta/routes/events"
	"github.com/postr-inc/hapta/routes/posts/create"
	"github.com/postr-inc/hapta/routes/posts/feed"
	"github.com/postr-inc/hapta/routes/posts/view"
)

// Register adds the example routes when the server starts.
func Register(app core.App) {
	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		auth.Register(se)
		feed.Register(se)
		view.Register(se)
		create.Register(se)
		events.Register(se)
		return se.Next()
	})
}
