// Package view is GET /api/posts/{id}: one post.
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
	post, err := ctx.Services.App.FindRecordById("posts", in.ID)
	if err != nil {
		return err // a missing post answers 404
	}
	return ctx.JSON(http.StatusOK, post)
}
