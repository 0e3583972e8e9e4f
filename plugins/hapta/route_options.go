package hapta

import (
	"github.com/pocketbase/pocketbase/apis"
)

// Guard decides whether a request may reach the handler: it returns nil to
// let it through, or the error to answer (401, 403, ...). Guards run before
// the input is bound, so a refused caller learns nothing about the schema.
type Guard func(ctx *Context) error

// RouteOption configures a route registered with Handle or HTTPHandler.
type RouteOption func(*routeOptions)

type routeOptions struct {
	guards      []Guard
	requireAuth bool // a guard answers 401 without authentication
	mayForbid   bool // a guard may answer 403
	maxBody     int64
	summary     string
	description string
	tags        []string
}

// RequireAuth answers 401 to requests without a valid auth token.
func RequireAuth() RouteOption {
	return func(o *routeOptions) {
		o.requireAuth = true
		o.guards = append(o.guards, requireAuth)
	}
}

// RequireSuperuser answers 401 to anonymous requests and 403 to those of
// anyone but a superuser.
func RequireSuperuser() RouteOption {
	return func(o *routeOptions) {
		o.requireAuth = true
		o.mayForbid = true
		o.guards = append(o.guards, requireAuth, requireSuperuser)
	}
}

// WithGuard adds a guard; guards run in the order given.
func WithGuard(guard Guard) RouteOption {
	return func(o *routeOptions) {
		o.guards = append(o.guards, guard)
		o.mayForbid = true
	}
}

// MaxBodySize limits the request body of the route to n bytes (413 above),
// instead of PocketBase's default limit.
func MaxBodySize(n int64) RouteOption {
	return func(o *routeOptions) { o.maxBody = n }
}

// Summary, Description and Tags document the route in the OpenAPI document.
func Summary(summary string) RouteOption {
	return func(o *routeOptions) { o.summary = summary }
}

// Description is the route's longer description in the OpenAPI document.
func Description(description string) RouteOption {
	return func(o *routeOptions) { o.description = description }
}

// Tags group the route in the OpenAPI document.
func Tags(tags ...string) RouteOption {
	return func(o *routeOptions) { o.tags = append(o.tags, tags...) }
}

// Options makes one option of several, for a package that offers a ready
// set (plugins/clover's RequireRole is RequireAuth with a guard).
func Options(options ...RouteOption) RouteOption {
	return func(o *routeOptions) {
		for _, option := range options {
			option(o)
		}
	}
}

func requireAuth(ctx *Context) error {
	if !ctx.Principal.IsAuthenticated {
		return apis.NewUnauthorizedError("The request requires authentication.", nil)
	}
	return nil
}

func requireSuperuser(ctx *Context) error {
	if !ctx.Principal.IsSuperuser() {
		return apis.NewForbiddenError("Only superusers can perform this request.", nil)
	}
	return nil
}
