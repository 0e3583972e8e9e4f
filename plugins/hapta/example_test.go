package hapta_test

import (
	"log"
	"net/http"

	validation "github.com/pocketbase/ozzo-validation/v4"
	"github.com/pocketbase/pocketbase"
	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/plugins/hapta"
)

// The plugin in a PocketBase build of your own (README, "Layout").
func Example() {
	app := pocketbase.New()
	hapta.MustRegister(app, app.RootCmd, hapta.Config{})
	if err := app.Start(); err != nil {
		log.Fatal(err)
	}
}

type NewPost struct {
	Title string `json:"title"`
}

func (in NewPost) Validate() error {
	return validation.ValidateStruct(&in, validation.Field(&in.Title, validation.Required))
}

// A route (the package documentation's example).
func ExampleHandle() {
	app := pocketbase.New()
	hapta.MustRegister(app, app.RootCmd, hapta.Config{})
	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		hapta.Handle(se, "POST /api/posts", func(ctx *hapta.Context, in NewPost) error {
			post, err := ctx.DB().Create("posts", map[string]any{"title": in.Title, "author": ctx.Principal.ID})
			if err != nil {
				return err
			}
			return ctx.JSON(http.StatusOK, post)
		}, hapta.RequireAuth())
		return se.Next()
	})
}
