package hapta

import (
	"encoding"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/pocketbase/pocketbase/tools/filesystem"
)

// fieldSource says where a route input field is bound from.
type fieldSource string

const (
	sourceBody   fieldSource = "body"   // the JSON, urlencoded or multipart body
	sourceQuery  fieldSource = "query"  // the query string
	sourcePath   fieldSource = "path"   // a {name} of the route pattern
	sourceHeader fieldSource = "header" // a request header
)

// inputField is one bindable field of a route's input struct.
type inputField struct {
	index     []int
	goName    string
	source    fieldSource
	name      string // the name in its source: JSON key, query key, path param or header
	formName  string // for body fields: the name in form bodies (the form tag, else name)
	typ       reflect.Type
	isFile    bool   // *filesystem.File or []*filesystem.File, bound from multipart bodies
	errorName string // the key ozzo-validation reports for this field
}

// inputSchema describes how a route's input type binds.
type inputSchema struct {
	typ        reflect.Type
	fields     []inputField
	bodyFields int
}

var (
	fileType        = reflect.TypeFor[*filesystem.File]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// newInputSchema reads the struct tags of In. A field binds only when it
// has one of the tags json (JSON body), form (form bodies), query, path or
// header; other fields are left alone.
func newInputSchema(typ reflect.Type, pathParams []string) (*inputSchema, error) {
	if typ.Kind() != reflect.Struct {
		return nil, fmt.Errorf("the input type %s must be a struct", typ)
	}
	schema := &inputSchema{typ: typ}

	for _, f := range reflect.VisibleFields(typ) {
		if !f.IsExported() || f.Anonymous {
			continue
		}
		field, ok, err := newInputField(f)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", typ, f.Name, err)
		}
		if !ok {
			continue
		}
		if field.source == sourcePath && !slices.Contains(pathParams, field.name) {
			return nil, fmt.Errorf("%s.%s: the pattern has no {%s}", typ, f.Name, field.name)
		}
		if field.source == sourceBody {
			schema.bodyFields++
		}
		schema.fields = append(schema.fields, field)
	}
	return schema, nil
}

func newInputField(f reflect.StructField) (inputField, bool, error) {
	field := inputField{index: f.Index, goName: f.Name, typ: f.Type, errorName: f.Name}

	jsonName := tagName(f.Tag.Get("json"))
	formName := tagName(f.Tag.Get("form"))
	if jsonName != "" {
		field.errorName = jsonName // ozzo-validation names errors by the json tag
	}

	var sources []fieldSource
	for _, source := range []fieldSource{sourceQuery, sourcePath, sourceHeader} {
		if name := tagName(f.Tag.Get(string(source))); name != "" {
			sources = append(sources, source)
			field.source, field.name = source, name
		}
	}
	if jsonName != "" || formName != "" {
		sources = append(sources, sourceBody)
		field.source = sourceBody
		field.name = firstNonEmpty(jsonName, formName)
		field.formName = firstNonEmpty(formName, jsonName)
	}

	switch len(sources) {
	case 0:
		return field, false, nil
	case 1:
	default:
		return field, false, fmt.Errorf("binds from %v; give it one source", sources)
	}

	field.isFile = f.Type == fileType || (f.Type.Kind() == reflect.Slice && f.Type.Elem() == fileType)
	if field.isFile && field.source != sourceBody {
		return field, false, fmt.Errorf("files bind from multipart bodies only; tag it form")
	}
	if field.source != sourceBody && !isTextType(f.Type) {
		return field, false, fmt.Errorf("%s values are text, and %s cannot be parsed from text", field.source, f.Type)
	}
	return field, true, nil
}

// isTextType reports whether values of t can be parsed from strings:
// scalars, encoding.TextUnmarshaler, and pointers and slices of those.
func isTextType(t reflect.Type) bool {
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	case reflect.Pointer, reflect.Slice:
		return isTextType(t.Elem())
	}
	return false
}

// tagName is the name part of a struct tag value; "-" means none.
func tagName(tag string) string {
	name, _, _ := strings.Cut(tag, ",")
	if name == "-" {
		return ""
	}
	return name
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
