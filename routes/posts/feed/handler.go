// Package feed is GET /api/feed: the newest posts a caller may see, a page
// at a time, optionally of one author or matching words.
package feed

import (
	"net/http"
	"strings"

	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/plugins/hapta"
)

// Page is the answer: PocketBase's list shape.
type Page struct {
	Page       int              `json:"page"`
	PerPage    int              `json:"perPage"`
	TotalItems int              `json:"totalItems"`
	Items      []map[string]any `json:"items"`
}

func Register(se *core.ServeEvent) {
	hapta.Handle(se, "GET /api/feed", handle,
		hapta.Summary("The newest posts the caller may see, a page at a time"), hapta.Tags("posts"))
}

func handle(ctx *hapta.Context, in Input) error {
	page, perPage := max(in.Page, 1), in.PerPage
	if perPage == 0 {
		perPage = defaultPerPage
	}

	// The filter is PocketBase's filter language, so every value from the
	// request goes in as a quoted string literal, never as filter text.
	var filters []string
	if in.Author != "" {
		filters = append(filters, "author = "+quote(in.Author))
	}
	if in.Search != "" {
		words := quote(likeLiteral(in.Search))
		filters = append(filters, "(title ~ "+words+" || body ~ "+words+")")
	}

	// ctx.DB() reads as the caller: the posts collection's list rule
	// decides which posts are in the feed, as on PocketBase's REST API.
	result, err := ctx.DB().List("posts", hapta.ListOptions{
		Page:    page,
		PerPage: perPage,
		Filter:  strings.Join(filters, " && "),
		// @rowid keeps the insertion order of posts created in the same millisecond
		Sort: "-created,-@rowid",
	})
	if err != nil {
		return err // PocketBase's ApiError, as its REST API answers it
	}

	items := result.Items
	if items == nil {
		items = []map[string]any{}
	}
	return ctx.JSON(http.StatusOK, Page{Page: page, PerPage: perPage, TotalItems: result.TotalItems, Items: items})
}
