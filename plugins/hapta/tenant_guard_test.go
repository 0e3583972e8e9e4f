package hapta

import (
	"net/http"
	"slices"
	"testing"

	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/internal/testsupport"
	_ "github.com/postr-inc/hapta/migrations"
	"github.com/postr-inc/hapta/plugins/clover"
)

func TestTenantPrincipalAndGuards(t *testing.T) {
	app := newTestApp(t, t.TempDir(), `{}`)
	clover.MustRegister(app, clover.Config{})
	if err := app.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	if err := app.RunAllMigrations(); err != nil {
		t.Fatal(err)
	}
	whoAmI := func(ctx *Context, _ emptyInput) error { return ctx.JSON(http.StatusOK, ctx.Principal) }
	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		Handle(se, "GET /whoami", whoAmI)
		Handle(se, "GET /member", whoAmI, RequireTenantMember())
		Handle(se, "GET /chief", whoAmI, RequireRole("chief", "owner"))
		Handle(se, "GET /cleared", whoAmI, RequireClearance(50))
		return se.Next()
	})
	server, err := app.serve(t)
	if err != nil {
		t.Fatal(err)
	}

	tenantA := testsupport.SaveRecord(t, app, clover.TenantsCollection, map[string]any{"name": "A"})
	tenantB := testsupport.SaveRecord(t, app, clover.TenantsCollection, map[string]any{"name": "B"})
	editor := testsupport.SaveRecord(t, app, clover.RolesCollection, map[string]any{"tenant": tenantA.Id, "name": "editor", "security_level": 30})
	chief := testsupport.SaveRecord(t, app, clover.RolesCollection, map[string]any{"tenant": tenantA.Id, "name": "chief", "security_level": 60})
	bob, bobToken := testsupport.NewAuthRecord(t, app, "users", "bob@example.com")
	carol, carolToken := testsupport.NewAuthRecord(t, app, "users", "carol@example.com")
	_, eveToken := testsupport.NewAuthRecord(t, app, "users", "eve@example.com")
	testsupport.SaveRecord(t, app, clover.MembersCollection, map[string]any{"tenant": tenantA.Id, "user": bob.Id, "roles": []string{editor.Id}})
	testsupport.SaveRecord(t, app, clover.MembersCollection, map[string]any{"tenant": tenantA.Id, "user": carol.Id, "roles": []string{editor.Id, chief.Id}})

	principal := func(path, token, tenant string) (int, Principal) {
		t.Helper()
		headers := []string{"Authorization", token}
		if tenant != "" {
			headers = append(headers, TenantHeader, tenant)
		}
		res := send(t, "GET", server.URL+path, "", nil, headers...)
		var p Principal
		if res.status == http.StatusOK {
			res.json(t, &p)
		}
		return res.status, p
	}

	if _, p := principal("/whoami", bobToken, tenantA.Id); p.TenantID != tenantA.Id || !slices.Equal(p.Roles, []string{"editor"}) || p.HighestClearance != 30 {
		t.Fatalf("bob in A: %+v", p)
	}
	if _, p := principal("/whoami", carolToken, tenantA.Id); !slices.Equal(p.Roles, []string{"chief", "editor"}) || p.HighestClearance != 60 {
		t.Fatalf("carol in A: %+v", p)
	}
	// a tenant the caller is not a member of grants nothing
	for _, c := range []struct{ token, tenant string }{{bobToken, tenantB.Id}, {eveToken, tenantA.Id}, {bobToken, "made-up-tenant"}} {
		if status, p := principal("/whoami", c.token, c.tenant); status != 200 || p.TenantID != "" || len(p.Roles) != 0 || p.HighestClearance != 0 {
			t.Fatalf("non-member %+v got %d %+v", c, status, p)
		}
	}

	guards := []struct {
		path, token, tenant string
		want                int
	}{
		{"/member", "", tenantA.Id, 401},
		{"/member", bobToken, "", 403},
		{"/member", bobToken, tenantB.Id, 403},
		{"/member", eveToken, tenantA.Id, 403},
		{"/member", bobToken, tenantA.Id, 200},
		{"/chief", bobToken, tenantA.Id, 403},
		{"/chief", carolToken, tenantA.Id, 200},
		{"/chief", carolToken, tenantB.Id, 403},
		{"/cleared", bobToken, tenantA.Id, 403},
		{"/cleared", carolToken, tenantA.Id, 200},
	}
	for _, g := range guards {
		if status, _ := principal(g.path, g.token, g.tenant); status != g.want {
			t.Errorf("%s token?%v tenant %q: %d, want %d", g.path, g.token != "", g.tenant, status, g.want)
		}
	}
}
