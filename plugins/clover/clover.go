// Package clover is the clover plugin of the Hapta distribution: tenants,
// roles with a numeric clearance (security_level) and memberships, kept in
// PocketBase collections that the plugin creates, with the route guards
// that read them.
//
// Registered on an app, it puts the tenant a request names with the
// X-Tenant-ID header into hapta's principal (ctx.Principal.TenantID, Roles,
// HighestClearance) when the caller is a member of it:
//
//	app := pocketbase.New()
//	hapta.MustRegister(app, app.RootCmd, hapta.Config{})
//	clover.MustRegister(app, app.RootCmd, clover.Config{})
//	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
//		hapta.Handle(se, "GET /api/reports", reports, clover.RequireClearance(50))
//		return se.Next()
//	})
package clover

import (
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/spf13/cobra"

	"github.com/postr-inc/hapta/plugins/hapta"
)

// The tenancy collections.
const (
	TenantsCollection = "tenants"
	RolesCollection   = "tenant_roles"
	MembersCollection = "tenant_members"
)

// Config configures the clover plugin.
type Config struct {
	// Serve makes the app a Clover identity server under ServerPath; the
	// key Clover_Serve of hapta-config.json turns it on too.
	Serve bool

	// UsersCollection is the auth collection whose users sign in to the
	// server (default "users").
	UsersCollection string

	// KeyRotation is how old the active signing key may grow before the
	// server makes a new one (default 30 days).
	KeyRotation time.Duration
}

const (
	defaultUsersCollection = "users"
	defaultKeyRotation     = 30 * 24 * time.Hour
)

// MustRegister registers the clover plugin and panics if that fails.
func MustRegister(app core.App, rootCmd *cobra.Command, config Config) {
	if err := Register(app, rootCmd, config); err != nil {
		panic(err)
	}
}

// Register registers the clover plugin: the tenancy collections (created by
// migrations when the app's migrations run), the tenant in hapta's
// principal, the hooks that keep every membership's roles within the
// membership's tenant and its clearance up to date, whoever writes them
// (API, admin UI, Go, JS), and, with rootCmd (nil for none), the `clover`
// command (`clover tenant create NAME`).
func Register(app core.App, rootCmd *cobra.Command, config Config) error {
	if config.UsersCollection == "" {
		config.UsersCollection = defaultUsersCollection
	}
	if config.KeyRotation <= 0 {
		config.KeyRotation = defaultKeyRotation
	}
	registerMigrations()
	if rootCmd != nil {
		addCommands(app, rootCmd)
	}
	hapta.OnPrincipal(app).BindFunc(addTenant)
	app.OnRecordValidate(MembersCollection).BindFunc(validateMember)
	app.OnRecordDeleteExecute(TenantsCollection).BindFunc(forgetClientSecret)
	app.OnRecordCreateExecute(TenantsCollection).BindFunc(storeAdminSecret)
	app.OnRecordUpdateExecute(TenantsCollection).BindFunc(storeAdminSecret)
	app.OnRecordUpdate(RolesCollection).BindFunc(refreshClearancesOnUpdate)
	app.OnRecordDelete(RolesCollection).BindFunc(refreshClearancesOnDelete)
	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		if config.Serve || hapta.SettingsOf(se.App).Clover.Serve {
			if err := serve(se, config); err != nil {
				return err
			}
		}
		return se.Next()
	})
	return nil
}
