// Package clover is the clover plugin of the Hapta distribution: tenants,
// roles with a numeric clearance (security_level) and memberships, kept in
// PocketBase collections (see migrations/1764200000_create_tenancy.go).
package clover

import (
	"github.com/pocketbase/pocketbase/core"
)

// The tenancy collections.
const (
	TenantsCollection = "tenants"
	RolesCollection   = "tenant_roles"
	MembersCollection = "tenant_members"
)

// Config configures the clover plugin.
type Config struct{}

// MustRegister registers the clover plugin and panics if that fails.
func MustRegister(app core.App, config Config) {
	if err := Register(app, config); err != nil {
		panic(err)
	}
}

// Register registers the clover plugin: it keeps every membership's roles
// within the membership's tenant and its clearance up to date, whoever
// writes them (API, admin UI, Go, JS).
func Register(app core.App, config Config) error {
	app.OnRecordValidate(MembersCollection).BindFunc(validateMember)
	app.OnRecordUpdate(RolesCollection).BindFunc(refreshClearancesOnUpdate)
	app.OnRecordDelete(RolesCollection).BindFunc(refreshClearancesOnDelete)
	return nil
}
