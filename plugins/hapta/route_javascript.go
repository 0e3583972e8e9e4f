package hapta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"
	validation "github.com/pocketbase/ozzo-validation/v4"
	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
	"github.com/pocketbase/pocketbase/tools/osutils"
	"github.com/pocketbase/pocketbase/tools/router"
	"github.com/spf13/cast"

	"github.com/postr-inc/hapta/plugins/hapta/internal/bind"
	"github.com/postr-inc/hapta/plugins/hapta/internal/jsroutes"
	"github.com/postr-inc/hapta/plugins/hapta/internal/openapi"
)

// jsRoutesConfig is the routes settings with their defaults applied.
type jsRoutesConfig struct {
	dir, prefix string
	reload      bool
	timeout     time.Duration
	vms         int
}

func newJSRoutesConfig(app core.App, s RoutesSettings) jsRoutesConfig {
	c := jsRoutesConfig{dir: s.Dir, prefix: s.Prefix, timeout: 10 * time.Second, vms: s.VMs}
	if c.dir == "" {
		c.dir = filepath.Join(app.DataDir(), "..", "pb_routes")
	}
	if timeout, err := time.ParseDuration(s.Timeout); err == nil && timeout > 0 { // checked at load
		c.timeout = timeout
	}
	if c.vms <= 0 {
		c.vms = 2 * runtime.GOMAXPROCS(0)
	}
	c.reload = app.IsDev() || osutils.IsProbablyGoRun()
	if s.Reload != nil {
		c.reload = *s.Reload
	}
	return c
}

// The id and priority of the middleware that serves JavaScript routes:
// after every PocketBase middleware that guards a request (the superuser
// IP list, security headers, rate limits, the body limit) and after the
// principal is known, before PocketBase's own routes (a JavaScript route
// takes its path from them).
const (
	JSRoutesMiddlewareId       = "haptaJSRoutes"
	JSRoutesMiddlewarePriority = apis.DefaultBodyLimitMiddlewarePriority + 1
)

// jsRoutes serves the current generation of the routes folder.
type jsRoutes struct {
	config       jsRoutesConfig
	current      atomic.Pointer[jsServing]
	database     func(e *core.RequestEvent) *Database // the request's handle
	authenticate func() *Authenticator
}

// jsServing is a generation with the mux that matches its patterns.
type jsServing struct {
	generation *jsroutes.Generation
	mux        *http.ServeMux
}

// load scans and loads the routes folder into a new generation.
func (j *jsRoutes) load() (*jsServing, error) {
	table, err := jsroutes.Scan(j.config.dir, j.config.prefix)
	if err != nil {
		return nil, err
	}
	generation, err := jsroutes.Load(table, j.config.vms, j.config.timeout)
	if err != nil {
		return nil, err
	}
	serving := &jsServing{generation: generation, mux: http.NewServeMux()}
	for i := range table.Routes {
		route := &table.Routes[i]
		if err := handle(serving.mux, route.Pattern, matchedRoute{route: route}); err != nil {
			return nil, fmt.Errorf("%s: %w", route.Dir, err)
		}
	}
	return serving, nil
}

// handle adds a pattern to mux, whose panic on patterns that overlap
// (a/[x]/c beside a/b/[y]) becomes an error.
func handle(mux *http.ServeMux, pattern string, handler http.Handler) (err error) {
	defer func() {
		if recovered := recover(); recovered != nil {
			err = fmt.Errorf("%v", recovered)
		}
	}()
	mux.Handle(pattern, handler)
	return nil
}

// operations describe the generation's routes for the OpenAPI document:
// one per exported method, with its schemas.
func (s *jsServing) operations() []openapi.Operation {
	var operations []openapi.Operation
	for i := range s.generation.Table.Routes {
		route := &s.generation.Table.Routes[i]
		for _, method := range s.generation.MethodsOf(route) {
			schemas, checkBody := s.generation.SchemasOf(route, method)
			documents := schemas.Documents()
			if !checkBody && documents["body"] != nil {
				documents = maps.Clone(documents)
				delete(documents, "body")
			}
			operations = append(operations, openapi.Operation{Method: method, Path: route.Pattern, PathParams: route.Params,
				JSONSchemas: documents, Tags: []string{"javascript"}, Summary: route.Handler})
		}
	}
	return operations
}

// matchedRoute is a mux handler that records, in the request's
// matchResult, which route matched and its path values (which the mux sets
// only while serving).
type matchedRoute struct{ route *jsroutes.Route }

type matchKey struct{}

type matchResult struct {
	route  *jsroutes.Route
	params map[string]any
}

func (m matchedRoute) ServeHTTP(_ http.ResponseWriter, r *http.Request) {
	result, ok := r.Context().Value(matchKey{}).(*matchResult)
	if !ok {
		return
	}
	result.route, result.params = m.route, make(map[string]any, len(m.route.Params))
	for _, name := range m.route.Params {
		result.params[name] = r.PathValue(name)
	}
}

// match is the route of the request in this generation, with its path
// parameters, or nil.
func (s *jsServing) match(r *http.Request) (*jsroutes.Route, map[string]any) {
	if _, pattern := s.mux.Handler(r); pattern == "" {
		return nil, nil // most requests, PocketBase's own: no dispatch
	}
	result := &matchResult{}
	s.mux.ServeHTTP(discard{}, r.WithContext(context.WithValue(r.Context(), matchKey{}, result)))
	return result.route, result.params
}

type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) WriteHeader(int)             {}

// middleware answers the requests of JavaScript routes and passes on the
// others.
func (j *jsRoutes) middleware() *hook.Handler[*core.RequestEvent] {
	return &hook.Handler[*core.RequestEvent]{
		Id:       JSRoutesMiddlewareId,
		Priority: JSRoutesMiddlewarePriority,
		Func: func(e *core.RequestEvent) error {
			serving := j.current.Load()
			if serving == nil {
				return e.Next()
			}
			route, params := serving.match(e.Request)
			if route == nil {
				return e.Next()
			}
			return serving.serve(e, route, params, j.database(e), j.authenticate())
		},
	}
}

// serve runs the route's handler for the request's method.
func (s *jsServing) serve(e *core.RequestEvent, route *jsroutes.Route, params map[string]any, db *Database, auth *Authenticator) error {
	defer func() {
		if n := db.Discard(); n > 0 { // a unit never saved: nothing of it is applied
			e.App.Logger().Debug("discarded a JavaScript route's unit of work, never saved", "route", route.Handler, "ops", n)
		}
	}()
	methods := s.generation.MethodsOf(route)
	method := e.Request.Method
	if method == http.MethodHead && !slices.Contains(methods, http.MethodHead) && slices.Contains(methods, http.MethodGet) {
		method = http.MethodGet // as net/http and PocketBase do: the server sends no body for HEAD
	}
	if !slices.Contains(methods, method) {
		e.Response.Header().Set("Allow", strings.Join(methods, ", "))
		return apis.NewApiError(http.StatusMethodNotAllowed, "The route does not answer "+method+".", nil)
	}
	request, err := jsRequest(e, params)
	if err != nil {
		return err
	}
	schemas, checkBody := s.generation.SchemasOf(route, method)
	if err := validateJS(schemas, checkBody, request["metadata"].(map[string]any)); err != nil {
		return err
	}
	answer := &jsAnswer{}
	closed := &atomic.Bool{} // ctx, db and services stop working when the call ends
	result, err := s.generation.Call(e.Request.Context(), route, method, func(vm *goja.Runtime) ([]goja.Value, func()) {
		logError := func(err error) {
			e.App.Logger().Error("a JavaScript route's service call failed", "route", route.Handler, "error", err)
		}
		ctx := answer.context(vm, request, closed)
		_ = ctx.Set("services", jsServices(vm, auth, Caller{RemoteAddr: e.Request.RemoteAddr, Header: e.Request.Header}, logError, closed))
		return []goja.Value{ctx, jsDatabase(vm, db, logError, closed)}, func() { closed.Store(true) }
	})
	switch {
	case errors.Is(err, jsroutes.ErrTimeout):
		return apis.NewApiError(http.StatusGatewayTimeout, "The route took too long to answer.", nil)
	case errors.Is(err, jsroutes.ErrBusy):
		return apis.NewApiError(http.StatusServiceUnavailable, "The server is busy; try again.", nil)
	case err != nil:
		return jsError(e, route, err)
	}
	if answer.written {
		return answer.write(e, route)
	}
	if returned, ok := result.(*goja.Object); ok { // an error returned, not thrown: the same answer
		if apiError, ok := returned.Export().(*router.ApiError); ok {
			return apiError
		}
		if returned.ClassName() == "Error" {
			e.App.Logger().Error("a JavaScript route returned an error", "route", route.Handler, "error", returned.String())
			return apis.NewInternalServerError("", nil)
		}
	}
	value := jsroutes.Export(result)
	if value == nil {
		return e.NoContent(http.StatusNoContent)
	}
	return writeJSON(e, route, http.StatusOK, value)
}

// validateJS checks the request against the route's schemas, with the
// same 400 and per-field errors as a Go route's input, and leaves the
// coerced values (a query's integer, say) in metadata for the handler.
func validateJS(schemas *jsroutes.Schemas, checkBody bool, metadata map[string]any) error {
	if schemas == nil {
		return nil
	}
	fieldErrors := map[string]jsroutes.FieldError{}
	for _, part := range jsroutes.SchemaParts {
		value := metadata[part]
		if part == "body" {
			if !checkBody {
				continue
			}
			value = metadata["json"]
		} else if values, ok := value.(map[string]any); ok {
			value = schemas.Coerce(part, values)
			metadata[part] = value
		}
		for field, problem := range schemas.Validate(part, value) {
			if _, taken := fieldErrors[field]; !taken {
				fieldErrors[field] = problem
			}
		}
	}
	if len(fieldErrors) == 0 {
		return nil
	}
	data := make(validation.Errors, len(fieldErrors))
	for field, problem := range fieldErrors {
		data[field] = validation.NewError(problem.Code, problem.Message)
	}
	return apis.NewBadRequestError(bind.InvalidInput, data)
}

// jsRequest is what a handler's ctx reads of the request: the seed's
// metadata (query, params, json, headers) and the principal.
func jsRequest(e *core.RequestEvent, params map[string]any) (map[string]any, error) {
	query := map[string]any{}
	for name, values := range e.Request.URL.Query() {
		if len(values) == 1 {
			query[name] = values[0]
		} else {
			query[name] = values
		}
	}
	headers := map[string]any{}
	for name, values := range e.Request.Header {
		if !strings.EqualFold(name, "Authorization") && !strings.EqualFold(name, "Cookie") { // the credentials stay out of scripts
			headers[strings.ToLower(name)] = strings.Join(values, ", ")
		}
	}
	var body any
	if e.Request.Body != nil && strings.HasPrefix(e.Request.Header.Get("Content-Type"), "application/json") {
		raw, err := io.ReadAll(io.LimitReader(e.Request.Body, 1<<20+1))
		if err != nil {
			return nil, err
		}
		if len(raw) > 1<<20 {
			return nil, apis.NewApiError(http.StatusRequestEntityTooLarge, "The body is larger than 1 MiB.", nil)
		}
		if len(raw) > 0 && json.Unmarshal(raw, &body) != nil {
			return nil, apis.NewBadRequestError("The body is not valid JSON.", nil)
		}
	}
	principal, err := principalOf(e)
	if err != nil {
		return nil, err
	}
	var principalData map[string]any
	encoded, _ := json.Marshal(principal)
	_ = json.Unmarshal(encoded, &principalData)
	return map[string]any{
		"method":    e.Request.Method,
		"path":      e.Request.URL.Path,
		"principal": principalData,
		"metadata":  map[string]any{"query": query, "params": params, "json": body, "headers": headers},
	}, nil
}

// jsAnswer is what a handler answered through ctx.json/text/html.
type jsAnswer struct {
	written     bool
	status      int
	contentType string
	body        any // JSON data, or the text
}

// context is the handler's ctx: the request's data and the answer
// functions, with the seed's argument order (body, then status).
func (a *jsAnswer) context(vm *goja.Runtime, request map[string]any, closed *atomic.Bool) *goja.Object {
	ctx := vm.NewObject()
	for name, value := range request {
		_ = ctx.Set(name, value)
	}
	answer := func(contentType string) func(goja.FunctionCall) goja.Value {
		return func(call goja.FunctionCall) goja.Value {
			if closed.Load() {
				panic(vm.ToValue(errAfterRequest))
			}
			a.written, a.contentType, a.status = true, contentType, http.StatusOK
			if body := call.Argument(0); contentType == "application/json" {
				a.body = body.Export()
			} else if !goja.IsUndefined(body) && !goja.IsNull(body) {
				a.body = body.String()
			} else {
				a.body = ""
			}
			if status := call.Argument(1); !goja.IsUndefined(status) {
				a.status = int(status.ToInteger())
			}
			return goja.Undefined()
		}
	}
	_ = ctx.Set("json", answer("application/json"))
	_ = ctx.Set("text", answer("text/plain; charset=utf-8"))
	_ = ctx.Set("html", answer("text/html; charset=utf-8"))
	return ctx
}

func (a *jsAnswer) write(e *core.RequestEvent, route *jsroutes.Route) error {
	if a.status < 200 || a.status > 599 {
		return jsServerError(e, route, fmt.Errorf("the status %d is not an answer's (200 to 599)", a.status))
	}
	if a.contentType == "application/json" {
		return writeJSON(e, route, a.status, a.body)
	}
	e.Response.Header().Set("Content-Type", a.contentType)
	return writeAnswer(e, a.status, a.contentType, []byte(a.body.(string)))
}

// writeJSON encodes before it writes, so that a value that is not JSON is
// a logged 500, not a 200 with a broken body.
func writeJSON(e *core.RequestEvent, route *jsroutes.Route, status int, value any) error {
	body, err := json.Marshal(value)
	if err != nil {
		return jsServerError(e, route, fmt.Errorf("the answer is not JSON: %w", err))
	}
	return writeAnswer(e, status, "application/json", body)
}

// jsServerError logs a route's fault and answers 500 without its text.
func jsServerError(e *core.RequestEvent, route *jsroutes.Route, err error) error {
	e.App.Logger().Error("a JavaScript route failed", "route", route.Handler, "error", err)
	return apis.NewInternalServerError("", nil)
}

// errAfterRequest is thrown by ctx, db and services used after their
// request ended (kept in a module variable, say).
var errAfterRequest = router.NewInternalServerError("ctx, db and services belong to one request and end with it.", nil)

// thrownData is a thrown error's data as field errors: {field: {code,
// message}} keeps its codes, as a Go route's validation errors do.
func thrownData(data any) any {
	fields, err := cast.ToStringMapE(data)
	if err != nil || len(fields) == 0 {
		return nil
	}
	errors := validation.Errors{}
	for field, value := range fields {
		problem := cast.ToStringMapString(value)
		code, message := problem["code"], problem["message"]
		if code == "" {
			code = "validation_invalid_value"
		}
		if message == "" {
			message = "Invalid value."
		}
		errors[field] = validation.NewError(code, message)
	}
	return errors
}

// jsError is the answer of a handler that threw: an object with a status
// (and message, data) becomes that ApiError, as a Go route's error does;
// anything else is a 500, logged with the route's file.
func jsError(e *core.RequestEvent, route *jsroutes.Route, err error) error {
	var thrown goja.Value
	var exception *goja.Exception
	var rejected *jsroutes.Rejected
	switch {
	case errors.As(err, &exception):
		thrown = exception.Value()
	case errors.As(err, &rejected): // an async handler's
		thrown = rejected.Value
	}
	if thrown != nil {
		if apiError, ok := thrown.Export().(*router.ApiError); ok { // db's, or jsvm's ApiError
			return apiError
		}
		if fields, err := cast.ToStringMapE(thrown.Export()); err == nil {
			if status, err := cast.ToIntE(fields["status"]); err == nil && status >= 400 && status <= 599 {
				return apis.NewApiError(status, cast.ToString(fields["message"]), thrownData(fields["data"]))
			}
		}
	}
	return jsServerError(e, route, err)
}

// serveJSRoutes loads the routes folder, when there is one, and serves it
// (and reloads it, when configured): a broken folder stops the start with
// its problems.
func (p *plugin) serveJSRoutes(se *core.ServeEvent) error {
	if err := writeTypes(se.App); err != nil {
		p.logger.Warn("the TypeScript declarations could not be written", "file", TypesFile, "error", err)
	}
	routes := &jsRoutes{config: newJSRoutesConfig(se.App, p.settings.Routes), database: p.jsRequestDatabase,
		authenticate: func() *Authenticator { return p.authenticate }}
	serving, err := routes.load()
	if err != nil {
		return fmt.Errorf("hapta: JavaScript routes in %s: %w", routes.config.dir, err)
	}
	count := len(serving.generation.Table.Routes)
	if count == 0 && !routes.config.reload {
		return nil
	}
	routes.current.Store(serving)
	p.jsRoutes = routes
	se.Router.Bind(routes.middleware())
	p.logger.Info("serving JavaScript routes", "dir", routes.config.dir, "routes", count, "reload", routes.config.reload)
	if !routes.config.reload {
		return nil
	}
	stop := make(chan struct{})
	stopOnce := sync.OnceFunc(func() { close(stop) })
	se.App.OnTerminate().BindFunc(func(e *core.TerminateEvent) error {
		stopOnce()
		return e.Next()
	})
	return routes.watch(stop,
		func(err error) {
			p.logger.Error("JavaScript routes not reloaded; the previous ones keep serving", "dir", routes.config.dir, "error", err)
		},
		func(count int) {
			p.logger.Info("JavaScript routes reloaded", "dir", routes.config.dir, "routes", count)
		})
}
