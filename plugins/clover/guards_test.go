package clover_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/internal/testsupport"
	"github.com/postr-inc/hapta/plugins/clover"
	"github.com/postr-inc/hapta/plugins/hapta"
)

type emptyInput struct{}

func whoAmI(ctx *hapta.Context, _ emptyInput) error { return ctx.JSON(http.StatusOK, ctx.Principal) }

// guardedRoutes answer the principal, behind each of clover's guards.
func guardedRoutes(se *core.ServeEvent) error {
	hapta.Handle(se, "GET /whoami", whoAmI)
	hapta.Handle(se, "GET /member", whoAmI, clover.RequireMember())
	hapta.Handle(se, "GET /chief", whoAmI, clover.RequireRole("chief", "owner"))
	hapta.Handle(se, "GET /cleared", whoAmI, clover.RequireClearance(50))
	return se.Next()
}

// principal calls path as user in tenant (both may be "").
func (w *world) principal(t *testing.T, path, user, tenant string) (int, map[string]any) {
	t.Helper()
	answer := testsupport.CallJSON(t, "GET", w.server.URL+path, "", "Authorization", w.tokens[user], clover.TenantHeader, tenant)
	return answer.Status, answer.Body
}

func TestTheTenantIsInThePrincipalOfMembersOnly(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	members := []struct {
		user, tenant string
		roles        []any
		clearance    float64
	}{
		{"bob", w.tenantA.Id, []any{"editor"}, 30},
		{"carol", w.tenantA.Id, []any{"chief", "editor"}, 60},
		{"dave", w.tenantB.Id, []any{"director"}, 100},
	}
	for _, m := range members {
		status, p := w.principal(t, "/whoami", m.user, m.tenant)
		roles, _ := p["roles"].([]any)
		if status != 200 || p["tenantId"] != m.tenant || !slices.Equal(roles, m.roles) || p["highestClearance"] != m.clearance {
			t.Errorf("%s in its tenant: %d %v", m.user, status, p)
		}
	}
	// a tenant the caller is not a member of grants nothing
	strangers := []struct{ user, tenant string }{{"bob", w.tenantB.Id}, {"eve", w.tenantA.Id}, {"bob", "made-up-tenant"}, {"bob", ""}}
	for _, s := range strangers {
		status, p := w.principal(t, "/whoami", s.user, s.tenant)
		if status != 200 || p["isAuthenticated"] != true || p["tenantId"] != nil || p["roles"] != nil || p["highestClearance"] != 0.0 {
			t.Errorf("%s in %q: %d %v", s.user, s.tenant, status, p)
		}
	}
}

func TestTenantGuards(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	cases := []struct {
		path, user string
		inA        bool // the request names tenant A, else tenant B
		want       int
	}{
		{"/member", "", true, 401},
		{"/member", "bob", false, 403},
		{"/member", "eve", true, 403},
		{"/member", "bob", true, 200},
		{"/chief", "", true, 401},
		{"/chief", "bob", true, 403},
		{"/chief", "carol", true, 200},
		{"/chief", "carol", false, 403},
		{"/cleared", "bob", true, 403},
		{"/cleared", "carol", true, 200},
		{"/cleared", "dave", false, 200},
		{"/cleared", "dave", true, 403},
	}
	for _, c := range cases {
		tenant := w.tenantB.Id
		if c.inA {
			tenant = w.tenantA.Id
		}
		if status, _ := w.principal(t, c.path, c.user, tenant); status != c.want {
			t.Errorf("%s as %q in A=%v: %d, want %d", c.path, c.user, c.inA, status, c.want)
		}
	}
	// a missing header is no membership either
	if status, _ := w.principal(t, "/member", "bob", ""); status != 403 {
		t.Errorf("/member without a tenant: %d, want 403", status)
	}
}
