package view

import (
	validation "github.com/pocketbase/ozzo-validation/v4"
)

// Input is the post's id from the path: /api/posts/{id}
type Input struct {
	ID string `path:"id"`
}

func (in Input) Validate() error {
	return validation.ValidateStruct(&in,
		validation.Field(&in.ID, validation.Required, validation.Length(15, 15)),
	)
}
