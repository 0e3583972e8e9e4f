package create

import (
	validation "github.com/pocketbase/ozzo-validation/v4"
)

// Input is the new post, as JSON or a form.
type Input struct {
	Title string `json:"title"`
	Body  string `json:"body"`
}

func (in Input) Validate() error {
	return validation.ValidateStruct(&in,
		validation.Field(&in.Title, validation.Required, validation.Length(3, 200)),
		validation.Field(&in.Body, validation.Length(0, 10000)),
	)
}
