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

	// ctx.DB() writes as the caller: the posts collection's create rule,
	// its field validation and its hooks apply as on PocketBase's API
	post, err := ctx.DB().Create("posts", map[string]any{
		"title":  in.Title,
		"body":   in.Body,
		"author": ctx.Principal.ID,
	})
	if err != nil {
		return err
	}
	return ctx.JSON(http.StatusCreated, post)
}
