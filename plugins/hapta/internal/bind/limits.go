package bind

import (
	"errors"
	"math"
	"reflect"
	"strings"

	validation "github.com/pocketbase/ozzo-validation/v4"
)

// Limits are what an input's Validate method declares, as far as it
// can be read from outside: ozzo-validation rules are code, so they are
// found by validating probe values and reading the errors' parameters.
type Limits struct {
	Required map[string]bool           // by field name
	Keywords map[string]map[string]any // field name -> JSON Schema keywords (minLength, maximum, ...)
}

// Apply adds the keywords of the field named name to its JSON schema.
func (l Limits) Apply(name string, schema map[string]any) {
	for k, v := range l.Keywords[name] {
		schema[k] = v
	}
}

// Limits finds required fields (an error on the zero value), string
// lengths (a 1-character and a very long value) and numeric bounds (the
// lowest and highest values).
func (s *Schema) Limits() Limits {
	limits := Limits{Required: map[string]bool{}, Keywords: map[string]map[string]any{}}
	if !reflect.PointerTo(s.Type).Implements(reflect.TypeFor[validation.Validatable]()) {
		return limits
	}

	for _, f := range s.Fields {
		if code, _ := probe(s.Type, f, nil); code == validation.ErrRequired.Code() || code == validation.ErrNilOrNotEmpty.Code() {
			limits.Required[f.Name] = true
		}
		keywords := map[string]any{}
		kind := f.Type.Kind()
		if kind == reflect.Pointer {
			kind = f.Type.Elem().Kind()
		}
		switch kind {
		case reflect.String:
			for _, text := range []string{"x", strings.Repeat("x", 1<<16)} {
				code, params := probe(s.Type, f, func(v reflect.Value) { v.SetString(text) })
				switch code {
				case validation.ErrLengthTooShort.Code(), validation.ErrLengthInvalid.Code():
					keywords["minLength"] = params["min"]
				case validation.ErrLengthTooLong.Code():
					keywords["maxLength"] = params["max"]
				case validation.ErrLengthOutOfRange.Code():
					keywords["minLength"], keywords["maxLength"] = params["min"], params["max"]
				}
				if code == validation.ErrLengthInvalid.Code() {
					keywords["maxLength"] = params["min"]
				}
			}
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Float32, reflect.Float64:
			probeBounds(s.Type, f, kind, keywords)
		}
		if len(keywords) > 0 {
			limits.Keywords[f.Name] = keywords
		}
	}
	return limits
}

func probeBounds(typ reflect.Type, f Field, kind reflect.Kind, keywords map[string]any) {
	isFloat := kind == reflect.Float32 || kind == reflect.Float64
	for _, low := range []bool{true, false} {
		code, params := probe(typ, f, func(v reflect.Value) {
			switch {
			case isFloat && low:
				v.SetFloat(-math.MaxFloat32)
			case isFloat:
				v.SetFloat(math.MaxFloat32)
			case low:
				v.SetInt(int64(-1) << (v.Type().Bits() - 1))
			default:
				v.SetInt(int64(1)<<(v.Type().Bits()-1) - 1)
			}
		})
		switch code {
		case validation.ErrMinGreaterEqualThanRequired.Code():
			keywords["minimum"] = params["threshold"]
		case validation.ErrMinGreaterThanRequired.Code():
			keywords["exclusiveMinimum"] = params["threshold"]
		case validation.ErrMaxLessEqualThanRequired.Code():
			keywords["maximum"] = params["threshold"]
		case validation.ErrMaxLessThanRequired.Code():
			keywords["exclusiveMaximum"] = params["threshold"]
		}
	}
}

// probe validates a zero input with field f set by set (nil: left zero) and
// returns the code and parameters of f's error, if any.
func probe(typ reflect.Type, f Field, set func(reflect.Value)) (code string, params map[string]any) {
	defer func() {
		if recover() != nil { // a Validate that cannot handle the probe says nothing
			code, params = "", nil
		}
	}()

	in := reflect.New(typ)
	if set != nil {
		field := in.Elem().FieldByIndex(f.Index)
		if field.Kind() == reflect.Pointer {
			field.Set(reflect.New(field.Type().Elem()))
			field = field.Elem()
		}
		set(field)
	}

	var fieldErrors validation.Errors
	if !errors.As(in.Interface().(validation.Validatable).Validate(), &fieldErrors) {
		return "", nil
	}
	var fieldErr validation.Error
	if !errors.As(fieldErrors[f.ErrorName], &fieldErr) {
		return "", nil
	}
	return fieldErr.Code(), fieldErr.Params()
}
