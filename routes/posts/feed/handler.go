// Package feed is GET /api/feed: the newest posts, a page at a time,
// optionally of one author or matching words.
package feed

import (
	"net/http"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/plugins/hapta"
)

// Page is the answer: PocketBase's list shape.
type Page struct {
	Page       int            `json:"page"`
	PerPage    int            `json:"perPage"`
	TotalItems int64          `json:"totalItems"`
	Items      []*core.Record `json:"items"`
}

func Register(se *core.ServeEvent) {
	hapta.Handle(se, "GET /api/feed", handle,
		hapta.Summary("The newest posts, a page at a time"), hapta.Tags("posts"))
}

func handle(ctx *hapta.Context, in Input) error {
	page, perPage := max(in.Page, 1), in.PerPage
	if perPage == 0 {
		perPage = defaultPerPage
	}

	var filters []dbx.Expression
	if in.Author != "" {
		filters = append(filters, dbx.HashExp{"author": in.Author})
	}
	if in.Search != "" {
		filters = append(filters, dbx.Or(dbx.Like("title", in.Search), dbx.Like("body", in.Search)))
	}

	app := ctx.Services.App
	total, err := app.CountRecords("posts", filters...)
	if err != nil {
		return err
	}
	query := app.RecordQuery("posts")
	for _, filter := range filters {
		query.AndWhere(filter)
	}
	// rowid keeps the insertion order of posts created in the same millisecond
	items := []*core.Record{}
	err = query.
		OrderBy("created DESC", "rowid DESC").
		Limit(int64(perPage)).
		Offset(int64((page - 1) * perPage)).
		All(&items)
	if err != nil {
		return err
	}

	return ctx.JSON(http.StatusOK, Page{Page: page, PerPage: perPage, TotalItems: total, Items: items})
}
