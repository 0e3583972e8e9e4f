package clover

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pocketbase/pocketbase/apis"

	"github.com/postr-inc/hapta/plugins/hapta"
)

// RequireMember answers 401 to anonymous requests and 403 unless the
// principal is a member of the tenant named by the X-Tenant-ID header.
func RequireMember() hapta.RouteOption {
	return hapta.Options(hapta.RequireAuth(), hapta.WithGuard(requireMember))
}

// RequireRole is RequireMember, and 403 unless the principal holds one of
// roles in the tenant.
func RequireRole(roles ...string) hapta.RouteOption {
	return hapta.Options(RequireMember(), hapta.WithGuard(func(ctx *hapta.Context) error {
		for _, role := range roles {
			if slices.Contains(ctx.Principal.Roles, role) {
				return nil
			}
		}
		return apis.NewForbiddenError("The request requires the role "+strings.Join(roles, " or ")+" in the tenant.", nil)
	}))
}

// RequireClearance is RequireMember, and 403 unless the principal's highest
// clearance in the tenant is at least level.
func RequireClearance(level int) hapta.RouteOption {
	return hapta.Options(RequireMember(), hapta.WithGuard(func(ctx *hapta.Context) error {
		if ctx.Principal.HighestClearance < level {
			return apis.NewForbiddenError(fmt.Sprintf("The request requires a clearance of at least %d in the tenant.", level), nil)
		}
		return nil
	}))
}

func requireMember(ctx *hapta.Context) error {
	if ctx.Principal.TenantID == "" {
		return apis.NewForbiddenError("The request requires membership of the tenant named by "+TenantHeader+".", nil)
	}
	return nil
}
