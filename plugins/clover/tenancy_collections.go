package clover

import (
	"sync"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"
)

// tenancyMigration is the migration that creates the tenancy collections,
// under the file name it had when the example app's migrations held it, so
// that data directories where it ran do not run it again.
const tenancyMigration = "1764200000_create_tenancy.go"

// clientsMigration makes tenants OAuth2 clients: a hashed secret and
// whether the tenant is first-party.
const clientsMigration = "1764500000_clover_tenant_clients.go"

// registerMigrations adds clover's migrations to PocketBase's app
// migrations, a list shared by every app of the process: once.
var registerMigrations = sync.OnceFunc(func() {
	core.AppMigrations.Register(createTenancy, dropTenancy, tenancyMigration)
	core.AppMigrations.Register(addTenantClients, dropTenantClients, clientsMigration)
	core.AppMigrations.Register(addServerTables, dropServerTables, serverMigration)
	core.AppMigrations.Register(addAdminSecrets, dropAdminSecrets, adminSecretsMigration)
})

// addTenantClients gives tenants the first-party flag (the password grant)
// and a table of their client secrets' hashes, outside the collections so
// that no API answer, a superuser's included, carries them.
func addTenantClients(app core.App) error {
	tenants, err := app.FindCollectionByNameOrId(TenantsCollection)
	if err != nil {
		return err
	}
	tenants.Fields.Add(&core.BoolField{Name: FirstPartyField})
	if tenants.UpdateRule != nil { // its admins may rename it, not grant it the password grant
		tenants.UpdateRule = types.Pointer("(" + *tenants.UpdateRule + ") && @request.body." + FirstPartyField + ":isset = false")
	}
	if err := app.Save(tenants); err != nil {
		return err
	}
	_, err = app.DB().NewQuery("CREATE TABLE {{" + secretsTable + "}} ([[tenant]] TEXT PRIMARY KEY NOT NULL, [[hash]] TEXT NOT NULL)").Execute()
	return err
}

func dropTenantClients(app core.App) error {
	if _, err := app.DB().NewQuery("DROP TABLE IF EXISTS {{" + secretsTable + "}}").Execute(); err != nil {
		return err
	}
	tenants, err := app.FindCollectionByNameOrId(TenantsCollection)
	if err != nil {
		return err
	}
	tenants.Fields.RemoveByName(FirstPartyField)
	return app.Save(tenants)
}

// createTenancy creates tenants with their admins, roles with a clearance
// (security_level), and memberships holding roles of their tenant (their
// highest clearance kept in a field for API rules). Superusers manage
// everything; a tenant's admins manage their tenant's roles and members;
// members see their tenant and its roles.
func createTenancy(app core.App) error {
	users, err := app.FindCollectionByNameOrId("users")
	if err != nil {
		return err
	}

	// every rule starts with signedIn: for an anonymous request
	// @request.auth.id is "", which an empty relation would match
	const signedIn = `@request.auth.id != "" && `
	const isMember = `tenant_members_via_tenant.user ?= @request.auth.id`
	tenants := core.NewBaseCollection(TenantsCollection)
	tenants.Fields.Add(
		&core.TextField{Name: "name", Required: true, Max: 200},
		&core.RelationField{Name: "admins", CollectionId: users.Id, MaxSelect: 999},
		&core.AutodateField{Name: "created", OnCreate: true},
		&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true},
	)
	if err := app.Save(tenants); err != nil {
		return err
	}

	const isAdmin = signedIn + `tenant.admins.id ?= @request.auth.id`
	const keepsTenant = `(@request.body.tenant:isset = false || @request.body.tenant = tenant)`
	roles := core.NewBaseCollection(RolesCollection)
	roles.Fields.Add(
		&core.RelationField{Name: "tenant", Required: true, CollectionId: tenants.Id, MaxSelect: 1, CascadeDelete: true},
		&core.TextField{Name: "name", Required: true, Max: 100},
		&core.NumberField{Name: "security_level", Min: types.Pointer(0.0), OnlyInt: true},
		&core.AutodateField{Name: "created", OnCreate: true},
		&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true},
	)
	roles.AddIndex("idx_tenant_roles_name", true, "tenant, name", "")
	if err := app.Save(roles); err != nil {
		return err
	}

	members := core.NewBaseCollection(MembersCollection)
	members.Fields.Add(
		&core.RelationField{Name: "tenant", Required: true, CollectionId: tenants.Id, MaxSelect: 1, CascadeDelete: true},
		&core.RelationField{Name: "user", Required: true, CollectionId: users.Id, MaxSelect: 1, CascadeDelete: true},
		&core.RelationField{Name: "roles", CollectionId: roles.Id, MaxSelect: 999},
		// the highest security_level of the roles, kept by plugins/clover, for API rules
		&core.NumberField{Name: "clearance", Min: types.Pointer(0.0), OnlyInt: true},
		&core.AutodateField{Name: "created", OnCreate: true},
		&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true},
	)
	members.AddIndex("idx_tenant_members_user", true, "tenant, user", "")
	// a tenant's admins manage its roles and members, within the tenant
	manageByAdmins := func(collection *core.Collection, readRule string) error {
		collection.ListRule = types.Pointer(signedIn + readRule)
		collection.ViewRule = collection.ListRule
		collection.CreateRule = types.Pointer(isAdmin)
		collection.UpdateRule = types.Pointer(isAdmin + ` && ` + keepsTenant)
		collection.DeleteRule = types.Pointer(isAdmin)
		return app.Save(collection)
	}
	if err := manageByAdmins(members, `(tenant.admins.id ?= @request.auth.id || user = @request.auth.id)`); err != nil {
		return err
	}
	// the rules of tenants and roles read the memberships, which exist only now
	if err := manageByAdmins(roles, `(tenant.admins.id ?= @request.auth.id || tenant.`+isMember+`)`); err != nil {
		return err
	}
	tenants.ListRule = types.Pointer(signedIn + `(admins.id ?= @request.auth.id || ` + isMember + `)`)
	tenants.ViewRule = tenants.ListRule
	tenants.UpdateRule = types.Pointer(signedIn + `admins.id ?= @request.auth.id`)
	return app.Save(tenants)
}

func dropTenancy(app core.App) error {
	for _, name := range []string{MembersCollection, RolesCollection, TenantsCollection} {
		collection, err := app.FindCollectionByNameOrId(name)
		if err != nil {
			return err
		}
		if err := app.Delete(collection); err != nil {
			return err
		}
	}
	return nil
}
