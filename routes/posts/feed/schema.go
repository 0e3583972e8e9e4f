package feed

import (
	validation "github.com/pocketbase/ozzo-validation/v4"
)

// Input is the feed's query string: /api/feed?page=2&perPage=20&author=ID&q=words
type Input struct {
	Page    int    `query:"page"`
	PerPage int    `query:"perPage"`
	Author  string `query:"author"`
	Search  string `query:"q"`
}

const (
	defaultPerPage = 20
	maxPerPage     = 100
)

func (in Input) Validate() error {
	return validation.ValidateStruct(&in,
		validation.Field(&in.Page, validation.Min(1), validation.Max(10000)),
		validation.Field(&in.PerPage, validation.Min(1), validation.Max(maxPerPage)),
		validation.Field(&in.Author, validation.Length(15, 15)),
		validation.Field(&in.Search, validation.Length(0, 100)),
	)
}
