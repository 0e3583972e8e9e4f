package hapta

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/pocketbase/pocketbase/core"
)

// OpenAPIPath serves the OpenAPI 3.1 document of the routes added with Handle.
const OpenAPIPath = "/api/hapta/openapi.json"

// openAPIDocument is built once per server start, on the first request.
type openAPIDocument struct {
	once sync.Once
	json []byte
	err  error
}

func (p *plugin) serveOpenAPI(e *core.RequestEvent) error {
	doc := p.openAPI
	doc.once.Do(func() {
		// encoding/json sorts object keys: the same routes give the same bytes
		doc.json, doc.err = json.Marshal(buildOpenAPI(e.App.Settings().Meta.AppName, p.routes.all()))
	})
	if doc.err != nil {
		return doc.err
	}
	return e.Blob(http.StatusOK, "application/json", doc.json)
}

type object = map[string]any

// buildOpenAPI describes routes as an OpenAPI 3.1 document.
func buildOpenAPI(title string, routes []*routeSpec) object {
	paths := object{}
	for _, spec := range routes {
		path := openAPIPath(spec.path)
		item, _ := paths[path].(object)
		if item == nil {
			item = object{}
			paths[path] = item
		}
		methods := []string{spec.method}
		if spec.method == "" {
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

func operation(spec *routeSpec, method string) object {
	op := object{
		"operationId": operationID(method, spec.path),
		"responses":   responses(spec),
	}
	if spec.options.summary != "" {
		op["summary"] = spec.options.summary
	}
	if spec.options.description != "" {
		op["description"] = spec.options.description
	}
	if len(spec.options.tags) > 0 {
		op["tags"] = spec.options.tags
	}
	if spec.options.auth != authNone {
		op["security"] = []object{{"pocketbaseToken": []string{}}}
	}

	limits := probeLimits(spec.schema)
	parameters := []object{}
	for _, name := range spec.pathParams {
		parameters = append(parameters, object{"name": name, "in": "path", "required": true, "schema": object{"type": "string"}})
	}
	body := object{"type": "object", "properties": object{}}
	var required []string
	hasFiles := false
	for _, f := range spec.schema.fields {
		schema := jsonSchema(f.typ, nil)
		limits.apply(f.name, schema)
		switch f.source {
		case sourcePath:
			for _, p := range parameters {
				if p["name"] == f.name {
					p["schema"] = schema
				}
			}
		case sourceQuery, sourceHeader:
			param := object{"name": f.name, "in": string(f.source), "schema": schema}
			if limits.required[f.name] {
				param["required"] = true
			}
			if f.typ.Kind() == reflect.Slice {
				param["explode"] = true
			}
			parameters = append(parameters, param)
		case sourceBody:
			body["properties"].(object)[f.name] = schema
			if limits.required[f.name] {
				required = append(required, f.name)
			}
			hasFiles = hasFiles || f.isFile
		}
	}
	if len(parameters) > 0 {
		op["parameters"] = parameters
	}
	if spec.schema.bodyFields > 0 {
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

func responses(spec *routeSpec) object {
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
	if spec.schema.bodyFields > 0 {
		result["413"] = apiError("The body is over the size limit.")
		result["415"] = apiError("Unsupported Content-Type.")
	}
	if spec.options.auth != authNone {
		result["401"] = apiError("Missing or invalid authentication.")
	}
	if spec.options.mayForbid {
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
	case t == fileType:
		return object{"type": "string", "contentMediaType": "application/octet-stream"}
	case reflect.PointerTo(t).Implements(textUnmarshaler):
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
			if name := tagName(f.Tag.Get("json")); f.IsExported() && !f.Anonymous && name != "" {
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
