package clover_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	validation "github.com/pocketbase/ozzo-validation/v4"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/postr-inc/hapta/internal/testsupport"
	"github.com/postr-inc/hapta/plugins/clover"
	"github.com/postr-inc/hapta/plugins/hapta"
)

// world is hapta and clover on an app, with two tenants and their people:
// alice admins tenant A; bob (editor, 30) and carol (chief, 60) are members
// of A; dave (director, 100) is a member of B; eve belongs nowhere.
type world struct {
	app           core.App
	server        *httptest.Server
	tenantA       *core.Record
	tenantB       *core.Record
	editor, chief *core.Record // roles of A
	director      *core.Record // role of B
	users, tokens map[string]string
	bobMembership *core.Record
}

func newWorld(t *testing.T) *world {
	t.Helper()
	return newWorldWith(t, clover.Config{})
}

func newWorldWith(t *testing.T, config clover.Config) *world {
	t.Helper()
	app := testsupport.NewApp(t, func(app core.App) {
		hapta.MustRegister(app, nil, hapta.Config{ConfigFile: testsupport.WriteFile(t, "hapta-config.json", `{}`)})
		clover.MustRegister(app, nil, config)
		app.OnServe().BindFunc(guardedRoutes)
	})
	server, err := testsupport.Serve(t, app)
	if err != nil {
		t.Fatal(err)
	}

	w := &world{app: app, server: server, users: map[string]string{}, tokens: map[string]string{}}
	for _, name := range []string{"alice", "bob", "carol", "dave", "eve"} {
		user, token := testsupport.NewAuthRecord(t, app, "users", name+"@example.com")
		w.users[name], w.tokens[name] = user.Id, token
	}
	w.tenantA = w.save(t, clover.TenantsCollection, map[string]any{"name": "A", "admins": []string{w.users["alice"]}})
	w.tenantB = w.save(t, clover.TenantsCollection, map[string]any{"name": "B"})
	w.editor = w.save(t, clover.RolesCollection, map[string]any{"tenant": w.tenantA.Id, "name": "editor", "security_level": 30})
	w.chief = w.save(t, clover.RolesCollection, map[string]any{"tenant": w.tenantA.Id, "name": "chief", "security_level": 60})
	w.director = w.save(t, clover.RolesCollection, map[string]any{"tenant": w.tenantB.Id, "name": "director", "security_level": 100})
	w.bobMembership = w.save(t, clover.MembersCollection, map[string]any{"tenant": w.tenantA.Id, "user": w.users["bob"], "roles": []string{w.editor.Id}})
	w.save(t, clover.MembersCollection, map[string]any{"tenant": w.tenantA.Id, "user": w.users["carol"], "roles": []string{w.editor.Id, w.chief.Id}})
	w.save(t, clover.MembersCollection, map[string]any{"tenant": w.tenantB.Id, "user": w.users["dave"], "roles": []string{w.director.Id}})
	return w
}

func (w *world) save(t *testing.T, collection string, data map[string]any) *core.Record {
	t.Helper()
	return testsupport.SaveRecord(t, w.app, collection, data)
}

// rest calls PocketBase's own REST API as user ("" for anonymous).
func (w *world) rest(t *testing.T, user, method, path, body string) (int, map[string]any) {
	t.Helper()
	answer := testsupport.CallJSON(t, method, w.server.URL+path, body, "Authorization", w.tokens[user])
	return answer.Status, answer.Body
}

// listed returns the values of field in the items a list call answers.
func (w *world) listed(t *testing.T, user, collection, field string) []string {
	t.Helper()
	status, body := w.rest(t, user, "GET", "/api/collections/"+collection+"/records?perPage=100", "")
	if status != 200 {
		t.Fatalf("list %s as %s: %d %v", collection, user, status, body)
	}
	var values []string
	for _, item := range body["items"].([]any) {
		values = append(values, item.(map[string]any)[field].(string))
	}
	slices.Sort(values)
	return values
}

func TestFindMembership(t *testing.T) {
	t.Parallel()
	w := newWorld(t)

	m, ok, err := clover.FindMembership(w.app, w.tenantA.Id, w.users["carol"])
	if err != nil || !ok || !slices.Equal(m.Roles, []string{"chief", "editor"}) || m.HighestClearance != 60 || m.TenantID != w.tenantA.Id {
		t.Fatalf("carol in A: %+v %v %v", m, ok, err)
	}
	for _, c := range []struct{ tenant, user string }{
		{w.tenantB.Id, w.users["bob"]},   // a member elsewhere
		{w.tenantA.Id, w.users["eve"]},   // nobody's member
		{w.tenantA.Id, w.users["alice"]}, // an admin is not a member
		{"no-such-tenant", w.users["bob"]},
	} {
		if m, ok, err := clover.FindMembership(w.app, c.tenant, c.user); ok || err != nil {
			t.Errorf("%+v: membership %+v, ok %v, err %v", c, m, ok, err)
		}
	}
}

func TestMembershipRolesStayInTheirTenant(t *testing.T) {
	t.Parallel()
	w := newWorld(t)

	w.bobMembership.Set("roles", []string{w.editor.Id, w.director.Id})
	err := w.app.Save(w.bobMembership)
	var fieldErrors validation.Errors
	if !errors.As(err, &fieldErrors) || fieldErrors["roles"] == nil {
		t.Fatalf("a role of tenant B in a membership of A: %v", err)
	}
}

func TestClearanceFollowsTheRoles(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	clearance := func() int {
		member, err := w.app.FindRecordById(clover.MembersCollection, w.bobMembership.Id)
		if err != nil {
			t.Fatal(err)
		}
		return member.GetInt("clearance")
	}
	if got := clearance(); got != 30 {
		t.Fatalf("bob's clearance %d, want 30", got)
	}

	w.editor.Set("security_level", 45)
	if err := w.app.Save(w.editor); err != nil {
		t.Fatal(err)
	}
	if got := clearance(); got != 45 {
		t.Fatalf("after the role changed: %d, want 45", got)
	}

	if err := w.app.Delete(w.editor); err != nil {
		t.Fatal(err)
	}
	if got := clearance(); got != 0 {
		t.Fatalf("after the role was deleted: %d, want 0", got)
	}
}

func TestTenancyRulesThroughPocketBaseAPI(t *testing.T) {
	t.Parallel()
	w := newWorld(t)

	t.Run("tenants are seen by their admins and members only", func(t *testing.T) {
		for user, want := range map[string][]string{"alice": {"A"}, "bob": {"A"}, "dave": {"B"}, "eve": nil, "": nil} {
			if got := w.listed(t, user, clover.TenantsCollection, "name"); !slices.Equal(got, want) {
				t.Errorf("%q sees tenants %v, want %v", user, got, want)
			}
		}
	})

	t.Run("admins manage members and roles of their tenant only", func(t *testing.T) {
		body := `{"tenant": "` + w.tenantA.Id + `", "user": "` + w.users["eve"] + `", "roles": ["` + w.editor.Id + `"]}`
		if status, resp := w.rest(t, "bob", "POST", "/api/collections/tenant_members/records", body); status == 200 {
			t.Fatalf("a plain member added a member: %v", resp)
		}
		if status, resp := w.rest(t, "alice", "POST", "/api/collections/tenant_members/records", body); status != 200 {
			t.Fatalf("the admin could not add a member: %d %v", status, resp)
		}
		roleInB := `{"tenant": "` + w.tenantB.Id + `", "name": "intruder", "security_level": 1}`
		if status, resp := w.rest(t, "alice", "POST", "/api/collections/tenant_roles/records", roleInB); status == 200 {
			t.Fatalf("an admin of A created a role in B: %v", resp)
		}
		move := `{"tenant": "` + w.tenantB.Id + `"}`
		if status, resp := w.rest(t, "alice", "PATCH", "/api/collections/tenant_roles/records/"+w.editor.Id, move); status == 200 {
			t.Fatalf("an admin moved a role to another tenant: %v", resp)
		}
		if status, _ := w.rest(t, "alice", "POST", "/api/collections/tenants/records", `{"name": "C"}`); status == 200 {
			t.Fatal("a user created a tenant")
		}
	})

	t.Run("documents are isolated by tenant and clearance", func(t *testing.T) {
		newDocuments(t, w.app)
		create := func(user, tenant, title string, classification int) int {
			body, _ := json.Marshal(map[string]any{"tenant": tenant, "title": title, "classification": classification})
			status, _ := w.rest(t, user, "POST", "/api/collections/tenant_documents/records", string(body))
			return status
		}
		if status := create("bob", w.tenantA.Id, "public A", 10); status != 200 {
			t.Fatalf("bob creating at 10 in A: %d", status)
		}
		if status := create("carol", w.tenantA.Id, "secret A", 55); status != 200 {
			t.Fatalf("carol creating at 55 in A: %d", status)
		}
		if status := create("bob", w.tenantA.Id, "above bob", 40); status == 200 {
			t.Fatal("bob created a document above his clearance")
		}
		if status := create("dave", w.tenantA.Id, "from B", 0); status == 200 {
			t.Fatal("a member of B created a document in A")
		}
		if status := create("dave", w.tenantB.Id, "B only", 90); status != 200 {
			t.Fatalf("dave creating in B: %d", status)
		}

		for user, want := range map[string][]string{
			"bob":   {"public A"},
			"carol": {"public A", "secret A"},
			"dave":  {"B only"},
			"alice": nil,          // an admin who is not a member
			"eve":   {"public A"}, // added to A as an editor above
			"":      nil,
		} {
			if got := w.listed(t, user, "tenant_documents", "title"); !slices.Equal(got, want) {
				t.Errorf("%s sees %v, want %v", user, got, want)
			}
		}

		docs, err := w.app.FindRecordsByFilter("tenant_documents", "title = 'public A'", "", 1, 0)
		if err != nil || len(docs) != 1 {
			t.Fatal(err)
		}
		path := "/api/collections/tenant_documents/records/" + docs[0].Id
		if status, _ := w.rest(t, "dave", "GET", path, ""); status != 404 {
			t.Fatalf("dave viewed a document of A: %d", status)
		}
		if status, _ := w.rest(t, "bob", "DELETE", path, ""); status == 204 {
			t.Fatal("bob (clearance 30) deleted a document")
		}
		if status, resp := w.rest(t, "carol", "DELETE", path, ""); status != 204 {
			t.Fatalf("carol (clearance 60) could not delete: %d %v", status, resp)
		}
	})
}

// newDocuments creates tenant_documents as the example app's migration does:
// members of a document's tenant list, view and create its documents up to
// their clearance; deleting needs clearance 50.
func newDocuments(t *testing.T, app core.App) {
	t.Helper()
	tenants, err := app.FindCollectionByNameOrId(clover.TenantsCollection)
	if err != nil {
		t.Fatal(err)
	}
	const member = `@request.auth.id != "" && @collection.tenant_members:m.tenant ?= tenant && @collection.tenant_members:m.user ?= @request.auth.id`
	const cleared = member + ` && @collection.tenant_members:m.clearance ?>= classification`
	documents := core.NewBaseCollection("tenant_documents")
	documents.Fields.Add(
		&core.RelationField{Name: "tenant", Required: true, CollectionId: tenants.Id, MaxSelect: 1},
		&core.TextField{Name: "title", Required: true},
		&core.NumberField{Name: "classification", OnlyInt: true},
	)
	documents.ListRule, documents.ViewRule, documents.CreateRule = types.Pointer(cleared), types.Pointer(cleared), types.Pointer(cleared)
	documents.DeleteRule = types.Pointer(member + ` && @collection.tenant_members:m.clearance ?>= 50`)
	if err := app.Save(documents); err != nil {
		t.Fatal(err)
	}
}

func TestTenantsAreClientsWithAHashedSecret(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	secret, err := clover.NewClientSecret(w.app, w.tenantA)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := clover.AuthenticateClient(w.app, w.tenantA.Id, secret); err != nil || got.Id != w.tenantA.Id {
		t.Fatalf("the right secret: %v %v", got, err)
	}
	for _, c := range []struct{ id, secret string }{
		{w.tenantA.Id, secret + "x"}, {w.tenantA.Id, ""}, {w.tenantB.Id, secret}, {"no-such-tenant", secret},
	} {
		if _, err := clover.AuthenticateClient(w.app, c.id, c.secret); !errors.Is(err, clover.ErrInvalidClient) {
			t.Errorf("client %q with a wrong secret: %v", c.id, err)
		}
	}
	// kept only as a hash, and never answered, not even to a superuser
	var hashes []string
	if err := w.app.DB().NewQuery("SELECT hash FROM _clover_client_secrets").Column(&hashes); err != nil || len(hashes) != 1 || strings.Contains(hashes[0], secret) {
		t.Fatalf("stored: %v %v", hashes, err)
	}
	stored, _ := w.app.FindRecordById(clover.TenantsCollection, w.tenantA.Id)
	_, superToken := testsupport.NewAuthRecord(t, w.app, core.CollectionNameSuperusers, "root@example.com")
	answer := testsupport.CallJSON(t, "GET", w.server.URL+"/api/collections/tenants/records/"+w.tenantA.Id, "", "Authorization", superToken)
	if answer.Status != 200 || strings.Contains(string(answer.Raw), hashes[0]) || strings.Contains(string(answer.Raw), secret) {
		t.Fatalf("the tenant as a superuser sees it: %d %s", answer.Status, answer.Raw)
	}
	// a new secret replaces the old one
	if _, err := clover.NewClientSecret(w.app, stored); err != nil {
		t.Fatal(err)
	}
	if _, err := clover.AuthenticateClient(w.app, w.tenantA.Id, secret); !errors.Is(err, clover.ErrInvalidClient) {
		t.Fatal("the old secret still works")
	}
}

// Only a superuser makes a tenant first-party (the password grant): its
// admins may rename it, not grant it that.
func TestATenantAdminCannotMakeItFirstParty(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	path := "/api/collections/tenants/records/" + w.tenantA.Id
	if status, body := w.rest(t, "alice", "PATCH", path, `{"first_party": true}`); status == 200 {
		t.Fatalf("an admin made the tenant first-party: %v", body)
	}
	if status, body := w.rest(t, "alice", "PATCH", path, `{"name": "A, renamed"}`); status != 200 {
		t.Fatalf("an admin renaming the tenant: %d %v", status, body)
	}
}

// A login from Go naming the tenant in a header map written by hand (the
// constant's spelling, not Go's canonical one) gets the tenant.
func TestTheTenantHeaderIsReadInAnySpelling(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	result, err := hapta.ServicesOf(w.app).Authenticate.Password(
		hapta.Caller{Header: http.Header{clover.TenantHeader: {w.tenantA.Id}}},
		hapta.PasswordLogin{Identity: "bob@example.com", Password: "password-for-tests-1"})
	if err != nil || result.Principal.TenantID != w.tenantA.Id {
		t.Fatalf("bob's login in A: %+v %v", result, err)
	}
}

// A deleted tenant's secret does not authenticate a tenant made later with
// the same id.
func TestADeletedTenantsSecretDies(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	tenant := w.save(t, clover.TenantsCollection, map[string]any{"id": "reusedtenant001", "name": "Old"})
	secret, err := clover.NewClientSecret(w.app, tenant)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.app.Delete(tenant); err != nil {
		t.Fatal(err)
	}
	w.save(t, clover.TenantsCollection, map[string]any{"id": "reusedtenant001", "name": "New"})
	if _, err := clover.AuthenticateClient(w.app, "reusedtenant001", secret); err == nil {
		t.Fatal("the deleted tenant's secret authenticates the new tenant")
	}
}
