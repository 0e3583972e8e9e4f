package clover_test

import (
	"net/http"

	"github.com/pocketbase/pocketbase"
	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/plugins/clover"
	"github.com/postr-inc/hapta/plugins/hapta"
)

func reports(ctx *hapta.Context, _ emptyInput) error {
	return ctx.JSON(http.StatusOK, map[string]any{"tenant": ctx.Principal.TenantID})
}

// A route for the members of a tenant with a clearance of 50 or more (the
// package documentation's example).
func Example() {
	app := pocketbase.New()
	hapta.MustRegister(app, app.RootCmd, hapta.Config{})
	clover.MustRegister(app, app.RootCmd, clover.Config{})
	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		hapta.Handle(se, "GET /api/reports", reports, clover.RequireClearance(50))
		return se.Next()
	})
}
