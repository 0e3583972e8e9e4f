package bind

import (
	"encoding"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/pocketbase/pocketbase/tools/filesystem"
)

// Source says where a route input field is bound from.
type Source string

const (
	SourceBody   Source = "body"   // the JSON, urlencoded or multipart body
	SourceQuery  Source = "query"  // the query string
	SourcePath   Source = "path"   // a {name} of the route pattern
	SourceHeader Source = "header" // a request header
)

// Field is one bindable field of a route's input struct.
type Field struct {
	Index     []int
	Source    Source
	Name      string // the name in its source: JSON key, query key, path param or header
	FormName  string // for body fields: the name in form bodies (the form tag, else name)
	Type      reflect.Type
	IsFile    bool   // *filesystem.File or []*filesystem.File, bound from multipart bodies
	ErrorName string // the key ozzo-validation reports for this field
}

// Schema describes how a route's input type binds.
type Schema struct {
	Type       reflect.Type
	Fields     []Field
	BodyFields int // how many fields bind from the body
}

var (
	// FileType is the type of an uploaded file field.
	FileType = reflect.TypeFor[*filesystem.File]()
	// TextUnmarshaler is encoding.TextUnmarshaler: such fields bind from text.
	TextUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// New reads the struct tags of typ, a route's input type, for a route
// pattern with pathParams. A field binds only when it has one of the tags
// json (JSON body), form (form bodies), query, path or header; other fields
// are left alone.
func New(typ reflect.Type, pathParams []string) (*Schema, error) {
	if typ.Kind() != reflect.Struct {
		return nil, fmt.Errorf("the input type %s must be a struct", typ)
	}
	schema := &Schema{Type: typ}

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
		if field.Source == SourcePath && !slices.Contains(pathParams, field.Name) {
			return nil, fmt.Errorf("%s.%s: the pattern has no {%s}", typ, f.Name, field.Name)
		}
		if field.Source == SourceBody {
			schema.BodyFields++
		}
		schema.Fields = append(schema.Fields, field)
	}
	return schema, nil
}

func newInputField(f reflect.StructField) (Field, bool, error) {
	field := Field{Index: f.Index, Type: f.Type, ErrorName: f.Name}

	jsonName := TagName(f.Tag.Get("json"))
	formName := TagName(f.Tag.Get("form"))
	if jsonName != "" {
		field.ErrorName = jsonName // ozzo-validation names errors by the json tag
	}

	var sources []Source
	for _, source := range []Source{SourceQuery, SourcePath, SourceHeader} {
		if name := TagName(f.Tag.Get(string(source))); name != "" {
			sources = append(sources, source)
			field.Source, field.Name = source, name
		}
	}
	if jsonName != "" || formName != "" {
		sources = append(sources, SourceBody)
		field.Source = SourceBody
		field.Name = firstNonEmpty(jsonName, formName)
		field.FormName = firstNonEmpty(formName, jsonName)
	}

	switch len(sources) {
	case 0:
		return field, false, nil
	case 1:
	default:
		return field, false, fmt.Errorf("binds from %v; give it one source", sources)
	}

	field.IsFile = f.Type == FileType || (f.Type.Kind() == reflect.Slice && f.Type.Elem() == FileType)
	if field.IsFile && field.Source != SourceBody {
		return field, false, fmt.Errorf("files bind from multipart bodies only; tag it form")
	}
	if field.Source != SourceBody && !isTextType(f.Type) {
		return field, false, fmt.Errorf("%s values are text, and %s cannot be parsed from text", field.Source, f.Type)
	}
	return field, true, nil
}

// isTextType reports whether values of t can be parsed from strings:
// scalars, encoding.TextUnmarshaler, and pointers and slices of those.
func isTextType(t reflect.Type) bool {
	if reflect.PointerTo(t).Implements(TextUnmarshaler) {
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

// TagName is the name part of a struct tag value; "-" means none.
func TagName(tag string) string {
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
