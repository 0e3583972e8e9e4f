package clover

import (
	"net/http"
	"strings"

	"github.com/postr-inc/hapta/plugins/hapta"
)

// TenantHeader names the tenant a request acts in. It counts only when the
// principal is a member of that tenant.
const TenantHeader = "X-Tenant-ID"

// addTenant puts the tenant named by the request's TenantHeader, the roles
// held there and their highest clearance into the principal, when the
// principal is a member of it.
func addTenant(e *hapta.PrincipalEvent) error {
	if tenantID := headerValue(e.Header, TenantHeader); tenantID != "" {
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

// headerValue reads a header however its key is spelt: a header built in
// Go may not be in canonical form.
func headerValue(header http.Header, name string) string {
	if value := header.Get(name); value != "" {
		return value
	}
	for key, values := range header {
		if strings.EqualFold(key, name) && len(values) > 0 {
			return values[0]
		}
	}
	return ""
}
