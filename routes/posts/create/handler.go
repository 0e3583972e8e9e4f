// Package create is POST /api/posts: a signed-in user publishes a post.
package create

import (
	"net/http"

	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/plugins/hapta"
)

func Register(se *core.ServeEvent) {
	hapta.Handle(se, "POST /api/posts", handle,
		hapta.RequireAuth(),
		hapta.MaxBodySize(64<<10),
		hapta.Summary("Publish a post as the signed-in user"), hapta.Tags("posts"))
}

func handle(ctx *hapta.Context, in Input) error {
	if ctx.Principal.Collection != "users" {
		return ctx.Error(http.StatusForbidden, "Only users can publish posts.", nil)
	}

	app := ctx.Services.App
	posts, err := app.FindCachedCollectionByNameOrId("posts")
	if err != nil {
		return err
	}
	post := core.NewRecord(posts)
	post.Set("title", in.Title)
	post.Set("body", in.Body)
	post.Set("author", ctx.Principal.ID)
	if err := app.Save(post); err != nil {
		return err
	}
	return ctx.JSON(http.StatusCreated, post)
}
