package hapta

import (
	"encoding/json"
	"net/http"
	"sync"

	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/plugins/hapta/internal/openapi"
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
	operations := func() []openapi.Operation {
		routes := p.routes.all()
		operations := make([]openapi.Operation, len(routes))
		for i, spec := range routes {
			operations[i] = spec.operation()
		}
		return operations
	}
	if p.jsRoutes != nil { // they reload: described afresh each time
		if serving := p.jsRoutes.current.Load(); serving != nil {
			document, err := json.Marshal(openapi.Build(e.App.Settings().Meta.AppName, append(operations(), serving.operations()...)))
			if err != nil {
				return err
			}
			return e.Blob(http.StatusOK, "application/json", document)
		}
	}
	doc := p.openAPI
	doc.once.Do(func() {
		// encoding/json sorts object keys: the same routes give the same bytes
		doc.json, doc.err = json.Marshal(openapi.Build(e.App.Settings().Meta.AppName, operations()))
	})
	if doc.err != nil {
		return doc.err
	}
	return e.Blob(http.StatusOK, "application/json", doc.json)
}

// operation is the route as the OpenAPI document describes it.
func (s *routeSpec) operation() openapi.Operation {
	return openapi.Operation{
		Method:      s.method,
		Path:        s.path,
		PathParams:  s.pathParams,
		Input:       s.schema,
		Summary:     s.options.summary,
		Description: s.options.description,
		Tags:        s.options.tags,
		RequireAuth: s.options.requireAuth,
		MayForbid:   s.options.mayForbid,
	}
}
