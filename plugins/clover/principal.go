package clover

import (
	"github.com/postr-inc/hapta/plugins/hapta"
)

// TenantHeader names the tenant a request acts in. It counts only when the
// principal is a member of that tenant.
const TenantHeader = "X-Tenant-ID"

// addTenant puts the tenant named by the request's TenantHeader, the roles
// held there and their highest clearance into the principal, when the
// principal is a member of it.
func addTenant(e *hapta.PrincipalEvent) error {
	if tenantID := e.Header.Get(TenantHeader); tenantID != "" {
		membership, ok, err := FindMembership(e.App, tenantID, e.Principal.ID)
		if err != nil {
			return err
		}
		if ok {
			e.Principal.TenantID = tenantID
			e.Principal.Roles = membership.Roles
			e.Principal.HighestClearance = membership.HighestClearance
		}
	}
	return e.Next()
}
