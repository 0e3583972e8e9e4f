package jsroutes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// The parts of a request a route's schema can describe.
var SchemaParts = []string{"body", "query", "params", "headers"}

// Schemas are a route's input schemas (JSON Schema, draft 2020-12), one per
// part of the request. Query, params and headers arrive as text: their
// values are read as the type their property declares before validation.
type Schemas struct {
	compiled  map[string]*jsonschema.Schema
	types     map[string]map[string]string // part → property → declared type
	documents map[string]any               // part → its schema as written, for the OpenAPI document
}

// Documents are the schemas as written, by part; nil for no schemas.
func (s *Schemas) Documents() map[string]any {
	if s == nil {
		return nil
	}
	return s.documents
}

// FieldError is one field's problem, in PocketBase's ApiError data shape.
type FieldError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// RouteSchemas are a route's schemas by method; "" holds those for every
// method.
type RouteSchemas map[string]*Schemas

// For are the schemas of a method. Schemas shared by every method do not
// check a body on GET, HEAD, DELETE and OPTIONS, which have none.
func (r RouteSchemas) For(method string) (schemas *Schemas, checkBody bool) {
	if schemas, ok := r[method]; ok {
		return schemas, true
	}
	switch method {
	case "GET", "HEAD", "DELETE", "OPTIONS":
		return r[""], false
	}
	return r[""], true
}

// compileRouteSchemas compiles a route's schema document: an object of
// parts (body, query, params, headers) for every method, or an object of
// methods ({"GET": {"query": ...}, "POST": {"body": ...}}), each holding
// JSON Schemas.
func compileRouteSchemas(file string, document any) (RouteSchemas, error) {
	object, ok := document.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: the schema must be an object of parts (body, query, params, headers) or of methods", file)
	}
	byMethod := false
	for key := range object {
		if slices.Contains(Methods, key) {
			byMethod = true
		}
	}
	if !byMethod {
		schemas, err := compileSchemas(file, object)
		return RouteSchemas{"": schemas}, err
	}
	route := RouteSchemas{}
	for method, parts := range object {
		if !slices.Contains(Methods, method) {
			return nil, fmt.Errorf("%s: %q is not an HTTP method; a schema of methods holds only methods", file, method)
		}
		schemas, err := compileSchemas(file+" "+method, parts)
		if err != nil {
			return nil, err
		}
		route[method] = schemas
	}
	return route, nil
}

// compileSchemas compiles the schemas of the parts of a request.
func compileSchemas(file string, document any) (*Schemas, error) {
	parts, ok := document.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: the schema must be an object of body, query, params and headers schemas", file)
	}
	schemas := &Schemas{compiled: map[string]*jsonschema.Schema{}, types: map[string]map[string]string{}, documents: map[string]any{}}
	for part, schema := range parts {
		if !slices.Contains(SchemaParts, part) {
			return nil, fmt.Errorf("%s: %q is not a part of a request (body, query, params, headers)", file, part)
		}
		compiler := jsonschema.NewCompiler()
		compiler.DefaultDraft(jsonschema.Draft2020)
		compiler.AssertFormat()                                                             // email, uri, ... are checked, not just annotations
		location := "file:///routes/" + url.PathEscape(filepath.ToSlash(file)) + "/" + part // one per method too: the file name holds it
		if err := compiler.AddResource(location, schema); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", file, part, err)
		}
		compiled, err := compiler.Compile(location)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", file, part, err)
		}
		schemas.compiled[part] = compiled
		schemas.types[part] = declaredTypes(schema)
		schemas.documents[part] = schema
	}
	return schemas, nil
}

// readSchemaJSON reads a schema.json with its numbers exact.
func readSchemaJSON(file string) (any, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	document, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return document, nil
}

// declaredTypes are the types an object schema declares for its
// properties.
func declaredTypes(schema any) map[string]string {
	types := map[string]string{}
	object, _ := schema.(map[string]any)
	properties, _ := object["properties"].(map[string]any)
	for name, property := range properties {
		if declared, ok := property.(map[string]any)["type"].(string); ok {
			types[name] = declared
		}
	}
	return types
}

// Coerce reads the text values of a query, params or headers part as their
// declared types; a value that does not read stays text, for validation
// to refuse.
func (s *Schemas) Coerce(part string, values map[string]any) map[string]any {
	if s == nil {
		return values
	}
	coerced := make(map[string]any, len(values))
	for name, value := range values {
		text, isText := value.(string)
		switch declared := s.types[part][name]; {
		case !isText:
			coerced[name] = value
		case declared == "integer":
			if n, err := strconv.ParseInt(text, 10, 64); err == nil {
				value = n
			}
		case declared == "number":
			if f, err := strconv.ParseFloat(text, 64); err == nil {
				value = f
			}
		case declared == "boolean":
			if b, err := strconv.ParseBool(text); err == nil {
				value = b
			}
		}
		coerced[name] = value
	}
	return coerced
}

// Validate checks one part; the answer is nil or its field errors, keyed
// by the field's path ("title", "author.name", "tags.0").
func (s *Schemas) Validate(part string, value any) map[string]FieldError {
	if s == nil || s.compiled[part] == nil {
		return nil
	}
	if value == nil && part == "body" {
		value = map[string]any{} // no body: an empty object, so that required fields are named
	}
	value = jsonValue(value)
	err := s.compiled[part].Validate(value)
	validation, ok := err.(*jsonschema.ValidationError)
	if !ok {
		if err != nil {
			return map[string]FieldError{part: {Code: "validation_invalid_value", Message: err.Error()}}
		}
		return nil
	}
	errors := map[string]FieldError{}
	collect(validation, errors)
	return errors
}

var english = message.NewPrinter(language.English)

// collect puts the leaves of a validation error in errors, one per field
// (the first problem of a field wins).
func collect(e *jsonschema.ValidationError, errors map[string]FieldError) {
	if len(e.Causes) > 0 {
		for _, cause := range e.Causes {
			collect(cause, errors)
		}
		return
	}
	code := "validation_invalid_value"
	if path := e.ErrorKind.KeywordPath(); len(path) > 0 {
		code = "validation_" + strings.ToLower(path[len(path)-1])
	}
	message := e.ErrorKind.LocalizedString(english)
	fields := []string{strings.Join(e.InstanceLocation, ".")}
	if required, ok := e.ErrorKind.(*kind.Required); ok { // name the missing fields themselves
		fields = fields[:0]
		for _, missing := range required.Missing {
			fields = append(fields, strings.Join(append(append([]string{}, e.InstanceLocation...), missing), "."))
		}
		code, message = "validation_required", "Missing required value."
	}
	for _, field := range fields {
		if field == "" {
			field = "_"
		}
		if _, taken := errors[field]; !taken {
			errors[field] = FieldError{Code: code, Message: message}
		}
	}
}

// jsonValue is a value as the validator expects JSON data: numbers as
// json.Number or float64, maps of any.
func jsonValue(value any) any {
	raw, err := json.Marshal(value)
	if err != nil {
		return value
	}
	decoded, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return value
	}
	return decoded
}
