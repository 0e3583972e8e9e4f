package clover

import (
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// ClientSecretField lets a superuser set a tenant's client secret from the
// admin UI: a hidden password field of at least 32 characters (PocketBase
// takes hidden fields from superusers' requests only). What counts is its SHA-256 hash in the secrets
// table, written in the same transaction as the record.
const ClientSecretField = "client_secret"

// adminSecretsMigration adds ClientSecretField, and to each refresh token
// the hash of its user's token key, so that a password change ends the
// user's token families as it ends their PocketBase sessions.
const adminSecretsMigration = "1764700000_clover_admin_secrets.go"

func addAdminSecrets(app core.App) error {
	tenants, err := app.FindCollectionByNameOrId(TenantsCollection)
	if err != nil {
		return err
	}
	tenants.Fields.Add(&core.PasswordField{Name: ClientSecretField, Hidden: true, Min: 32, Max: 71}) // bcrypt reads 72 bytes at most
	if err := app.Save(tenants); err != nil {
		return err
	}
	_, err = app.DB().NewQuery("ALTER TABLE {{" + refreshTokensTable + "}} ADD COLUMN [[user_key]] TEXT NOT NULL DEFAULT ''").Execute()
	return err
}

func dropAdminSecrets(app core.App) error {
	if _, err := app.DB().NewQuery("ALTER TABLE {{" + refreshTokensTable + "}} DROP COLUMN [[user_key]]").Execute(); err != nil {
		return err
	}
	tenants, err := app.FindCollectionByNameOrId(TenantsCollection)
	if err != nil {
		return err
	}
	tenants.Fields.RemoveByName(ClientSecretField)
	return app.Save(tenants)
}

// storeAdminSecret keeps the hash of a client secret set on the record
// (admin UI, API) as the tenant's secret, in the record's transaction.
func storeAdminSecret(e *core.RecordEvent) error {
	plain := ""
	if value, ok := e.Record.GetRaw(ClientSecretField).(*core.PasswordFieldValue); ok {
		plain = value.Plain // read before the save, which clears it
	}
	if err := e.Next(); err != nil || plain == "" {
		return err
	}
	return storeSecretHash(e.App, e.Record.Id, plain)
}

// storeSecretHash makes secret the tenant's client secret.
func storeSecretHash(app core.App, tenantID, secret string) error {
	_, err := app.DB().NewQuery("INSERT INTO {{" + secretsTable + "}} ([[tenant]], [[hash]]) VALUES ({:tenant}, {:hash}) " +
		"ON CONFLICT([[tenant]]) DO UPDATE SET [[hash]] = excluded.[[hash]]").
		Bind(dbx.Params{"tenant": tenantID, "hash": hashSecret(secret)}).Execute()
	return err
}
