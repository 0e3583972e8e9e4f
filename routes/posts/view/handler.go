// Package view is GET /api/posts/{id}: one post, when the caller may see it.
package view

import (
	"net/http"

	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/plugins/hapta"
)

func Register(se *core.ServeEvent) {
	hapta.Handle(se, "GET /api/posts/{id}", handle,
		hapta.Summary("One post"), hapta.Tags("posts"))
}

func handle(ctx *hapta.Context, in Input) error {
	// ctx.DB() reads as the caller: the posts collection's view rule applies,
	// and a missing post or one the rule hides both answer 404.
	post, err := ctx.DB().Get("posts", in.ID, hapta.ReadOptions{})
	if err != nil {
		return err
	}
	return ctx.JSON(http.StatusOK, post)
}
