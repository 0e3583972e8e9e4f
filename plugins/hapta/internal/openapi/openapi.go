// Package openapi describes hapta's routes as an OpenAPI 3.1 document,
// their inputs read from the binding schemas by reflection.
package openapi

import (
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/postr-inc/hapta/plugins/hapta/internal/bind"
)

// Operation is a route as the document describes it.
type Operation struct {
	Method      string // "" for any method
	Path        string // the route's pattern path
	PathParams  []string
	Input       *bind.Schema
	Summary     string
	Description string
	Tags        []string
	RequireAuth bool // a guard answers 401 without authentication
	MayForbid   bool // a guard may answer 403

	// JSONSchemas describe the input of a route that has no Input (a
	// JavaScript route) with JSON Schemas by part: "body", and object
	// schemas for "query", "params" and "headers".
	JSONSchemas map[string]any
}

type object = map[string]any

// Build describes operations as an OpenAPI 3.1 document titled after the
// application (PocketBase's app name).
func Build(title string, operations []Operation) map[string]any {
	paths := object{}
	for _, spec := range operations {
		path := openAPIPath(spec.Path)
		item, _ := paths[path].(object)
		if item == nil {
			item = object{}
			paths[path] = item
		}
		methods := []string{spec.Method}
		if spec.Method == "" {
			methods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}
		}
		for _, method := range methods {
			item[strings.ToLower(method)] = operation(spec, method)
		}
	}

	return object{
		"openapi": "3.1.0",
		"info":    object{"title": title + " API", "version": "1.0.0"},
		"paths":   paths,
		"components": object{
			"schemas": object{"ApiError": apiErrorSchema},
			"securitySchemes": object{
				"pocketbaseToken": object{
					"type": "apiKey", "in": "header", "name": "Authorization",
					"description": "A PocketBase auth token (of a superuser or of any auth collection).",
				},
			},
		},
	}
}

var apiErrorSchema = object{
	"type":     "object",
	"required": []string{"status", "message", "data"},
	"properties": object{
		"status":  object{"type": "integer"},
		"message": object{"type": "string"},
		"data": object{
			"type": "object",
			"additionalProperties": object{
				"type":       "object",
				"properties": object{"code": object{"type": "string"}, "message": object{"type": "string"}},
			},
		},
	},
}

func operation(spec Operation, method string) object {
	op := object{
		"operationId": operationID(method, spec.Path),
		"responses":   responses(spec),
	}
	if spec.Summary != "" {
		op["summary"] = spec.Summary
	}
	if spec.Description != "" {
		op["description"] = spec.Description
	}
	if len(spec.Tags) > 0 {
		op["tags"] = spec.Tags
	}
	if spec.RequireAuth {
		op["security"] = []object{{"pocketbaseToken": []string{}}}
	}

	if spec.Input == nil {
		describeJSONSchemas(op, spec)
		return op
	}
	limits := spec.Input.Limits()
	parameters := []object{}
	for _, name := range spec.PathParams {
		parameters = append(parameters, object{"name": name, "in": "path", "required": true, "schema": object{"type": "string"}})
	}
	body := object{"type": "object", "properties": object{}}
	var required []string
	hasFiles := false
	for _, f := range spec.Input.Fields {
		schema := jsonSchema(f.Type, nil)
		limits.Apply(f.Name, schema)
		switch f.Source {
		case bind.SourcePath:
			for _, p := range parameters {
				if p["name"] == f.Name {
					p["schema"] = schema
				}
			}
		case bind.SourceQuery, bind.SourceHeader:
			param := object{"name": f.Name, "in": string(f.Source), "schema": schema}
			if limits.Required[f.Name] {
				param["required"] = true
			}
			if f.Type.Kind() == reflect.Slice {
				param["explode"] = true
			}
			parameters = append(parameters, param)
		case bind.SourceBody:
			body["properties"].(object)[f.Name] = schema
			if limits.Required[f.Name] {
				required = append(required, f.Name)
			}
			hasFiles = hasFiles || f.IsFile
		}
	}
	if len(parameters) > 0 {
		op["parameters"] = parameters
	}
	if spec.Input.BodyFields > 0 {
		if len(required) > 0 {
			body["required"] = required
		}
		content := object{"multipart/form-data": object{"schema": body}}
		if !hasFiles {
			content["application/json"] = object{"schema": body}
			content["application/x-www-form-urlencoded"] = object{"schema": body}
		}
		op["requestBody"] = object{"required": len(required) > 0, "content": content}
	}
	return op
}

func responses(spec Operation) object {
	apiError := func(description string) object {
		return object{
			"description": description,
			"content":     object{"application/json": object{"schema": object{"$ref": "#/components/schemas/ApiError"}}},
		}
	}
	result := object{
		"200": object{"description": "Success."},
		"400": apiError("Invalid input, with an entry per invalid field."),
		"500": apiError("Unexpected error; the server logged it with the X-Request-ID."),
	}
	if spec.Input != nil && spec.Input.BodyFields > 0 || spec.JSONSchemas["body"] != nil {
		result["413"] = apiError("The body is over the size limit.")
		result["415"] = apiError("Unsupported Content-Type.")
	}
	if spec.RequireAuth {
		result["401"] = apiError("Missing or invalid authentication.")
	}
	if spec.MayForbid {
		result["403"] = apiError("Not allowed.")
	}
	return result
}

// openAPIPath turns a Go pattern path into an OpenAPI path template:
// {rest...} becomes {rest}, and {$} an end of path.
func openAPIPath(path string) string {
	return strings.ReplaceAll(strings.ReplaceAll(path, "{$}", ""), "...}", "}")
}

func operationID(method, path string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	for _, part := range strings.FieldsFunc(path, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
	}) {
		b.WriteString("_" + part)
	}
	return b.String()
}

var timeType = reflect.TypeFor[time.Time]()

// jsonSchema describes the JSON form of t; seen guards against recursion.
func jsonSchema(t reflect.Type, seen map[reflect.Type]bool) object {
	switch {
	case t == timeType:
		return object{"type": "string", "format": "date-time"}
	case t == bind.FileType:
		return object{"type": "string", "contentMediaType": "application/octet-stream"}
	case reflect.PointerTo(t).Implements(bind.TextUnmarshaler):
		return object{"type": "string"}
	}

	switch t.Kind() {
	case reflect.Pointer:
		schema := jsonSchema(t.Elem(), seen)
		if typ, ok := schema["type"].(string); ok {
			schema["type"] = []string{typ, "null"}
		}
		return schema
	case reflect.String:
		return object{"type": "string"}
	case reflect.Bool:
		return object{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return object{"type": "integer", "format": "int64"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return object{"type": "integer", "minimum": 0}
	case reflect.Float32, reflect.Float64:
		return object{"type": "number"}
	case reflect.Slice, reflect.Array:
		return object{"type": "array", "items": jsonSchema(t.Elem(), seen)}
	case reflect.Map:
		return object{"type": "object", "additionalProperties": jsonSchema(t.Elem(), seen)}
	case reflect.Struct:
		if seen[t] {
			return object{"type": "object"}
		}
		seen = mapWith(seen, t)
		properties := object{}
		for _, f := range reflect.VisibleFields(t) {
			if name := bind.TagName(f.Tag.Get("json")); f.IsExported() && !f.Anonymous && name != "" {
				properties[name] = jsonSchema(f.Type, seen)
			}
		}
		return object{"type": "object", "properties": properties}
	}
	return object{}
}

func mapWith(seen map[reflect.Type]bool, t reflect.Type) map[reflect.Type]bool {
	next := make(map[reflect.Type]bool, len(seen)+1)
	for k := range seen {
		next[k] = true
	}
	next[t] = true
	return next
}

// describeJSONSchemas adds a JavaScript route's parameters and body, from
// its JSON Schemas, to op: OpenAPI 3.1 schemas are JSON Schemas.
func describeJSONSchemas(op object, spec Operation) {
	parameters := []object{}
	for _, name := range spec.PathParams {
		parameters = append(parameters, object{"name": name, "in": "path", "required": true,
			"schema": propertySchema(spec.JSONSchemas["params"], name)})
	}
	for _, part := range []struct{ key, in string }{{"query", "query"}, {"headers", "header"}} {
		schema, _ := spec.JSONSchemas[part.key].(map[string]any)
		properties, _ := schema["properties"].(map[string]any)
		required := map[string]bool{}
		list, _ := schema["required"].([]any)
		for _, name := range list {
			if name, ok := name.(string); ok {
				required[name] = true
			}
		}
		names := make([]string, 0, len(properties))
		for name := range properties {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			param := object{"name": name, "in": part.in, "schema": properties[name]}
			if required[name] {
				param["required"] = true
			}
			parameters = append(parameters, param)
		}
	}
	if len(parameters) > 0 {
		op["parameters"] = parameters
	}
	if body := spec.JSONSchemas["body"]; body != nil {
		op["requestBody"] = object{"required": true, "content": object{"application/json": object{"schema": body}}}
	}
}

// propertySchema is the schema of one property of an object schema, or a
// string's.
func propertySchema(schema any, name string) any {
	object, _ := schema.(map[string]any)
	properties, _ := object["properties"].(map[string]any)
	if property, ok := properties[name]; ok {
		return property
	}
	return map[string]any{"type": "string"}
}
