package hapta

import (
	"errors"
	"math"
	"reflect"
	"strings"

	validation "github.com/pocketbase/ozzo-validation/v4"
)

// schemaLimits are what an input's Validate method declares, as far as it
// can be read from outside: ozzo-validation rules are code, so they are
// found by validating probe values and reading the errors' parameters.
type schemaLimits struct {
	required map[string]bool
	keywords map[string]object // field name -> JSON Schema keywords
}

func (l schemaLimits) apply(name string, schema object) {
	for k, v := range l.keywords[name] {
		schema[k] = v
	}
}

// probeLimits finds required fields (an error on the zero value), string
// lengths (a 1-character and a very long value) and numeric bounds (the
// lowest and highest values).
func probeLimits(schema *inputSchema) schemaLimits {
	limits := schemaLimits{required: map[string]bool{}, keywords: map[string]object{}}
	if !reflect.PointerTo(schema.typ).Implements(reflect.TypeFor[validation.Validatable]()) {
		return limits
	}

	for _, f := range schema.fields {
		if code, _ := probe(schema.typ, f, nil); code == validation.ErrRequired.Code() || code == validation.ErrNilOrNotEmpty.Code() {
			limits.required[f.name] = true
		}
		keywords := object{}
		kind := f.typ.Kind()
		if kind == reflect.Pointer {
			kind = f.typ.Elem().Kind()
		}
		switch kind {
		case reflect.String:
			for _, text := range []string{"x", strings.Repeat("x", 1<<16)} {
				code, params := probe(schema.typ, f, func(v reflect.Value) { v.SetString(text) })
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
			probeBounds(schema.typ, f, kind, keywords)
		}
		if len(keywords) > 0 {
			limits.keywords[f.name] = keywords
		}
	}
	return limits
}

func probeBounds(typ reflect.Type, f inputField, kind reflect.Kind, keywords object) {
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
func probe(typ reflect.Type, f inputField, set func(reflect.Value)) (code string, params map[string]any) {
	defer func() {
		if recover() != nil { // a Validate that cannot handle the probe says nothing
			code, params = "", nil
		}
	}()

	in := reflect.New(typ)
	if set != nil {
		field := in.Elem().FieldByIndex(f.index)
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
	if !errors.As(fieldErrors[f.errorName], &fieldErr) {
		return "", nil
	}
	return fieldErr.Code(), fieldErr.Params()
}
