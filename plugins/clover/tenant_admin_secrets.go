package clover

import (
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"golang.org/x/crypto/bcrypt"
)

// ClientSecretField lets a superuser set a tenant's client secret from the
// admin UI: a hidden password field of at least 32 characters (PocketBase
// takes hidden fields from superusers' requests only). What counts is its SHA-256 hash in the secrets
// table, written in the same transaction as the record.
const ClientSecretField = "client_secret"

// adminSecretsMigration adds ClientSecretField.
const adminSecretsMigration = "1764700000_clover_admin_secrets.go"

func addAdminSecrets(app core.App) error {
	tenants, err := app.FindCollectionByNameOrId(TenantsCollection)
	if err != nil {
		return err
	}
	// the least bcrypt cost: the field's own hash is never kept (storeAdminSecret)
	tenants.Fields.Add(&core.PasswordField{Name: ClientSecretField, Hidden: true, Min: 32, Max: 71, Cost: bcrypt.MinCost})
	return app.Save(tenants)
}

func dropAdminSecrets(app core.App) error {
	tenants, err := app.FindCollectionByNameOrId(TenantsCollection)
	if err != nil {
		return err
	}
	tenants.Fields.RemoveByName(ClientSecretField)
	return app.Save(tenants)
}

// storeAdminSecret makes a client secret set on the record (admin UI, API)
// the tenant's secret, in one transaction with the record. The record
// keeps nothing of it: the field is emptied (validated already), so no
// answer can echo it and no stale hash stays behind.
func storeAdminSecret(e *core.RecordEvent) error {
	value, ok := e.Record.GetRaw(ClientSecretField).(*core.PasswordFieldValue)
	if !ok || value.Plain == "" {
		return e.Next()
	}
	secret := value.Plain
	e.Record.Set(ClientSecretField, "")
	return e.App.RunInTransaction(func(txApp core.App) error {
		e.App = txApp
		if err := e.Next(); err != nil {
			return err
		}
		return storeSecretHash(txApp, e.Record.Id, secret)
	})
}

// storeSecretHash makes secret the tenant's client secret.
func storeSecretHash(app core.App, tenantID, secret string) error {
	_, err := app.DB().NewQuery("INSERT INTO {{" + secretsTable + "}} ([[tenant]], [[hash]]) VALUES ({:tenant}, {:hash}) " +
		"ON CONFLICT([[tenant]]) DO UPDATE SET [[hash]] = excluded.[[hash]]").
		Bind(dbx.Params{"tenant": tenantID, "hash": hashSecret(secret)}).Execute()
	return err
}
