package bind

import (
	"errors"

	validation "github.com/pocketbase/ozzo-validation/v4"
	"github.com/pocketbase/pocketbase/apis"
)

// Validate runs the input's Validate() error method, when it has one, and
// answers 400 with its field errors and the binding's (which win for the
// same field, whose value could not be read), under the names the client
// sent.
func (s *Schema) Validate(in any, bindErrors validation.Errors) error {
	var err error
	if validatable, ok := in.(validation.Validatable); ok {
		err = validatable.Validate()
	}

	fieldErrors := validation.Errors{}
	if errors.As(err, &fieldErrors) {
		fieldErrors = s.clientNames(fieldErrors)
	} else if err != nil && len(bindErrors) == 0 {
		var internal validation.InternalError
		if errors.As(err, &internal) {
			return err // a mistake in the rules themselves: a 500, logged
		}
		return apis.NewBadRequestError(err.Error(), nil)
	}

	for name, bindErr := range bindErrors {
		fieldErrors[name] = bindErr
	}
	if len(fieldErrors) > 0 {
		return apis.NewBadRequestError(InvalidInput, fieldErrors)
	}
	return nil
}

// clientNames renames field errors that ozzo-validation keyed by the Go
// field name (fields without a json tag) to the name of the field in its
// source: the query key, path parameter, header or form field.
func (s *Schema) clientNames(fieldErrors validation.Errors) validation.Errors {
	renamed := make(validation.Errors, len(fieldErrors))
	for key, err := range fieldErrors {
		for _, f := range s.Fields {
			if f.ErrorName == key {
				key = f.Name
				break
			}
		}
		renamed[key] = err
	}
	return renamed
}
