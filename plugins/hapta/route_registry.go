package hapta

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
)

// routeRegistry holds the routes registered with Handle while the server
// starts: for 405 answers, for the OpenAPI document and to report mistakes.
type routeRegistry struct {
	mu     sync.Mutex
	routes []*routeSpec
	errs   []error
}

// add records a route and reports whether its path is new.
func (r *routeRegistry) add(spec *routeSpec) (newPath bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	newPath = !slices.ContainsFunc(r.routes, func(other *routeSpec) bool { return other.path == spec.path })
	r.routes = append(r.routes, spec)
	return newPath
}

func (r *routeRegistry) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, err)
}

// err is every mistake made while registering routes.
func (r *routeRegistry) err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return errors.Join(r.errs...)
}

func (r *routeRegistry) all() []*routeSpec {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.routes)
}

// methodNotAllowed answers 405 with the Allow header for a path whose
// routes all have other methods.
func (r *routeRegistry) methodNotAllowed(path string) func(*core.RequestEvent) error {
	return func(e *core.RequestEvent) error {
		var allow []string
		for _, spec := range r.all() {
			if spec.path == path {
				allow = append(allow, spec.method)
				if spec.method == http.MethodGet {
					allow = append(allow, http.MethodHead)
				}
			}
		}
		allow = append(allow, http.MethodOptions)
		slices.Sort(allow)
		e.Response.Header().Set("Allow", strings.Join(slices.Compact(allow), ", "))
		return apis.NewApiError(http.StatusMethodNotAllowed, "Method not allowed.", nil)
	}
}
