package hapta

import (
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"reflect"
	"runtime/debug"
	"strings"
	"time"

	validation "github.com/pocketbase/ozzo-validation/v4"
	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/router"

	"github.com/postr-inc/hapta/plugins/hapta/internal/bind"
)

// HandlerFunc handles a request whose input has been bound into In and
// validated. It answers through ctx (ctx.JSON, ...) or returns an error.
type HandlerFunc[In any] func(ctx *Context, in In) error

// Handle registers a route on PocketBase's router, in app.OnServe():
//
//	hapta.Handle(se, "POST /api/posts/{id}", func(ctx *hapta.Context, in UpdatePost) error {
//		return ctx.JSON(http.StatusOK, ...)
//	}, hapta.RequireAuth())
//
// Before the handler runs, the request is bound into a new In (struct tags
// json/form for the body, query, path and header) and validated with In's
// Validate() error method when it has one. A mistake in the pattern or in
// In's tags makes the server refuse to start, naming the route.
func Handle[In any](se *core.ServeEvent, pattern string, handler HandlerFunc[In], options ...RouteOption) *router.Route[*core.RequestEvent] {
	p := pluginOf(se.App)
	method, path := splitPattern(pattern)

	spec, err := newRouteSpec[In](method, path, handler, options, p.logger)
	if err != nil {
		p.routes.fail(fmt.Errorf("hapta: route %q: %w", pattern, err))
		return se.Router.Route(method, path, func(*core.RequestEvent) error {
			return apis.NewInternalServerError("", nil)
		})
	}

	route := se.Router.Route(method, path, func(e *core.RequestEvent) error {
		return spec.serve(e, p.services(e.App), e.RealIP())
	})
	if spec.options.maxBody > 0 {
		route.Bind(apis.BodyLimit(spec.options.maxBody))
	}
	if p.routes.add(spec) && method != "" {
		// a known path with another method answers 405, not PocketBase's 404
		se.Router.Any(path, p.routes.methodNotAllowed(path))
	}
	return route
}

// routeSpec is a registered route: its pattern, input schema and options.
type routeSpec struct {
	method     string
	path       string
	pathParams []string
	inputType  reflect.Type
	schema     *bind.Schema
	options    routeOptions
	logger     *slog.Logger

	// call binds and validates a new input, then runs the handler
	call func(ctx *Context) error
}

func newRouteSpec[In any](method, path string, handler HandlerFunc[In], options []RouteOption, logger *slog.Logger) (*routeSpec, error) {
	if method != "" && !isToken(method) {
		return nil, fmt.Errorf("invalid method %q", method)
	}
	if !strings.HasPrefix(path, "/") {
		return nil, errors.New(`the path must start with "/"`)
	}
	pathParams := patternParams(path)

	inputType := reflect.TypeFor[In]()
	schema, err := bind.New(inputType, pathParams)
	if err != nil {
		return nil, err
	}

	spec := &routeSpec{method: method, path: path, pathParams: pathParams, inputType: inputType, schema: schema, logger: logger}
	for _, option := range options {
		option(&spec.options)
	}
	spec.call = func(ctx *Context) error {
		in := new(In)
		read, err := schema.Bind(ctx.Event.Request, ctx.Metadata.Query, reflect.ValueOf(in))
		if err != nil {
			return err
		}
		ctx.Metadata.JSON = read.JSON
		if err := schema.Validate(in, read.FieldErrors); err != nil {
			return err
		}
		return handler(ctx, *in)
	}
	return spec, nil
}

// serve runs the route for one request: guards, binding, validation and the
// handler, turning errors and panics into ApiError answers.
func (s *routeSpec) serve(e *core.RequestEvent, services Services, ip string) (err error) {
	ctx := &Context{
		Metadata: s.metadata(e, ip),
		Services: services,
		Event:    e,
	}

	defer func() {
		recovered := recover()
		if recovered == nil {
			return
		}
		if recovered == http.ErrAbortHandler {
			panic(recovered) // the client is gone: let net/http abort the response
		}
		s.logger.Error("panic in a route handler",
			"requestId", ctx.Metadata.RequestID, "route", s.pattern(),
			"panic", fmt.Sprint(recovered), "stack", string(debug.Stack()))
		err = apis.NewInternalServerError("", nil)
	}()

	if ctx.Principal, err = principalOf(e); err != nil {
		return s.apiError(ctx, err)
	}
	for _, guard := range s.options.guards {
		if err := guard(ctx); err != nil {
			return err
		}
	}
	defer ctx.discardUnsaved(s.logger)
	return s.apiError(ctx, s.call(ctx))
}

func (s *routeSpec) metadata(e *core.RequestEvent, ip string) Metadata {
	r := e.Request
	params := make(map[string]string, len(s.pathParams))
	for _, name := range s.pathParams {
		params[name] = r.PathValue(name)
	}
	return Metadata{
		RequestID: requestID(e),
		Timestamp: time.Now(),
		Method:    r.Method,
		Path:      r.URL.Path,
		Params:    params,
		Query:     r.URL.Query(),
		Headers:   r.Header,
		IP:        ip,
		UserAgent: r.UserAgent(),
	}
}

// apiError turns a handler's error into its answer: ApiErrors as they are,
// validation errors 400, a missing record 404, and anything else 500,
// logged with the request id and not shown to the client.
func (s *routeSpec) apiError(ctx *Context, err error) error {
	if err == nil {
		return nil
	}
	var unitErr *UnitError // before ApiError, which it wraps
	if errors.As(err, &unitErr) {
		return unitErr.apiError()
	}
	var apiErr *router.ApiError
	if errors.As(err, &apiErr) {
		return apiErr
	}
	var fieldErrors validation.Errors
	if errors.As(err, &fieldErrors) {
		return apis.NewBadRequestError(bind.InvalidInput, fieldErrors)
	}
	var lockedOut *LockedOutError
	if errors.As(err, &lockedOut) {
		ctx.Event.Response.Header().Set("Retry-After", lockedOut.retryAfterSeconds())
		return apis.NewTooManyRequestsError(lockedOut.Error(), nil)
	}
	if errors.Is(err, sql.ErrNoRows) || errors.Is(err, fs.ErrNotExist) {
		return apis.NewNotFoundError("", err)
	}
	s.logger.Error("route handler failed",
		"requestId", ctx.Metadata.RequestID, "route", s.pattern(), "error", err.Error())
	return apis.NewInternalServerError("", err)
}

func (s *routeSpec) pattern() string {
	return strings.TrimSpace(s.method + " " + s.path)
}

// splitPattern splits "METHOD /path" (or "/path", any method).
func splitPattern(pattern string) (method, path string) {
	method, path, found := strings.Cut(pattern, " ")
	if !found {
		return "", pattern
	}
	return method, strings.TrimLeft(path, " ")
}

// patternParams lists the {name} and {name...} wildcards of a path.
func patternParams(path string) []string {
	var names []string
	for rest := path; ; {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			return names
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return names
		}
		name := strings.TrimSuffix(rest[open+1:open+end], "...")
		if name != "$" {
			names = append(names, name)
		}
		rest = rest[open+end+1:]
	}
}

// isToken reports whether s is an HTTP method token.
func isToken(s string) bool {
	for _, c := range s {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return s != ""
}
