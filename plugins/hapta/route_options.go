package hapta

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pocketbase/pocketbase/apis"
)

// Guard decides whether a request may reach the handler: it returns nil to
// let it through, or the error to answer (401, 403, ...). Guards run before
// the input is bound, so a refused caller learns nothing about the schema.
type Guard func(ctx *Context) error

// RouteOption configures a route registered with Handle or HTTPHandler.
type RouteOption func(*routeOptions)

// authLevel is the authentication a route's guards require, for OpenAPI.
type authLevel int

const (
	authNone authLevel = iota
	authAny
	authSuperuser
)

type routeOptions struct {
	guards      []Guard
	auth        authLevel
	mayForbid   bool // a guard may answer 403
	maxBody     int64
	summary     string
	description string
	tags        []string
}

// RequireAuth answers 401 to requests without a valid auth token.
func RequireAuth() RouteOption {
	return func(o *routeOptions) {
		o.auth = max(o.auth, authAny)
		o.guards = append(o.guards, requireAuth)
	}
}

// RequireSuperuser answers 401 to anonymous requests and 403 to those of
// anyone but a superuser.
func RequireSuperuser() RouteOption {
	return func(o *routeOptions) {
		o.auth = authSuperuser
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

// RequireTenantMember answers 403 unless the principal is a member of the
// tenant named by the X-Tenant-ID header.
func RequireTenantMember() RouteOption {
	return func(o *routeOptions) {
		o.auth = max(o.auth, authAny)
		o.mayForbid = true
		o.guards = append(o.guards, requireAuth, requireTenant)
	}
}

// RequireRole answers 403 unless the principal holds one of roles in the
// tenant named by the X-Tenant-ID header.
func RequireRole(roles ...string) RouteOption {
	return func(o *routeOptions) {
		RequireTenantMember()(o)
		o.guards = append(o.guards, func(ctx *Context) error {
			for _, role := range roles {
				if slices.Contains(ctx.Principal.Roles, role) {
					return nil
				}
			}
			return apis.NewForbiddenError("The request requires the role "+strings.Join(roles, " or ")+" in the tenant.", nil)
		})
	}
}

// RequireClearance answers 403 unless the principal's highest clearance in
// the tenant named by the X-Tenant-ID header is at least level.
func RequireClearance(level int) RouteOption {
	return func(o *routeOptions) {
		RequireTenantMember()(o)
		o.guards = append(o.guards, func(ctx *Context) error {
			if ctx.Principal.HighestClearance < level {
				return apis.NewForbiddenError(fmt.Sprintf("The request requires a clearance of at least %d in the tenant.", level), nil)
			}
			return nil
		})
	}
}

func requireTenant(ctx *Context) error {
	if ctx.Principal.TenantID == "" {
		return apis.NewForbiddenError("The request requires membership of the tenant named by "+TenantHeader+".", nil)
	}
	return nil
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
