package clover

import (
	"github.com/pocketbase/pocketbase/core"
)

// serverMigration adds what a Clover server keeps: the redirect URIs of
// each tenant (its OAuth2 client) and, in tables outside the collections
// so that no API answer carries them, the pending sign-ins, the issued
// tokens and the server's own secret.
const serverMigration = "1764600000_clover_server.go"

// RedirectURIsField lists where a tenant's authorization codes may be sent.
const RedirectURIsField = "redirect_uris"

const (
	authRequestsTable  = "_clover_auth_requests"
	accessTokensTable  = "_clover_access_tokens"
	refreshTokensTable = "_clover_refresh_tokens"
	serverSecretsTable = "_clover_server_secrets"
)

var serverTables = []string{
	// a sign-in between /authorize and the code exchange; consumed, not
	// deleted, so that a replayed code is recognised
	"CREATE TABLE {{" + authRequestsTable + "}} ([[id]] TEXT PRIMARY KEY NOT NULL, [[data]] TEXT NOT NULL, " +
		"[[code]] TEXT NOT NULL DEFAULT '', [[done]] INTEGER NOT NULL DEFAULT 0, [[consumed]] INTEGER NOT NULL DEFAULT 0, [[created]] INTEGER NOT NULL)",
	"CREATE INDEX {{idx_clover_auth_requests_code}} ON {{" + authRequestsTable + "}} ([[code]])",
	// the ids (jti) of access tokens, so that they can be revoked and introspected
	"CREATE TABLE {{" + accessTokensTable + "}} ([[jti]] TEXT PRIMARY KEY NOT NULL, [[family]] TEXT NOT NULL, " +
		"[[tenant]] TEXT NOT NULL, [[subject]] TEXT NOT NULL, [[scopes]] TEXT NOT NULL, [[expires]] INTEGER NOT NULL, [[revoked]] INTEGER NOT NULL DEFAULT 0)",
	"CREATE INDEX {{idx_clover_access_tokens_family}} ON {{" + accessTokensTable + "}} ([[family]])",
	// refresh tokens, kept as hashes; a family is every token of one sign-in
	"CREATE TABLE {{" + refreshTokensTable + "}} ([[hash]] TEXT PRIMARY KEY NOT NULL, [[id]] TEXT NOT NULL UNIQUE, [[family]] TEXT NOT NULL, " +
		"[[tenant]] TEXT NOT NULL, [[subject]] TEXT NOT NULL, [[scopes]] TEXT NOT NULL, [[amr]] TEXT NOT NULL, [[auth_time]] INTEGER NOT NULL, " +
		"[[expires]] INTEGER NOT NULL, [[rotated]] INTEGER NOT NULL DEFAULT 0, [[revoked]] INTEGER NOT NULL DEFAULT 0, " +
		// the hash of the user's token key when they signed in: a password change ends the family
		"[[user_key]] TEXT NOT NULL)",
	"CREATE INDEX {{idx_clover_refresh_tokens_family}} ON {{" + refreshTokensTable + "}} ([[family]])",
	"CREATE TABLE {{" + serverSecretsTable + "}} ([[name]] TEXT PRIMARY KEY NOT NULL, [[value]] TEXT NOT NULL)",
}

func addServerTables(app core.App) error {
	tenants, err := app.FindCollectionByNameOrId(TenantsCollection)
	if err != nil {
		return err
	}
	tenants.Fields.Add(&core.JSONField{Name: RedirectURIsField, MaxSize: 8 << 10})
	if err := app.Save(tenants); err != nil {
		return err
	}
	for _, statement := range serverTables {
		if _, err := app.DB().NewQuery(statement).Execute(); err != nil {
			return err
		}
	}
	return nil
}

func dropServerTables(app core.App) error {
	for _, table := range []string{authRequestsTable, accessTokensTable, refreshTokensTable, serverSecretsTable} {
		if _, err := app.DB().NewQuery("DROP TABLE IF EXISTS {{" + table + "}}").Execute(); err != nil {
			return err
		}
	}
	tenants, err := app.FindCollectionByNameOrId(TenantsCollection)
	if err != nil {
		return err
	}
	tenants.Fields.RemoveByName(RedirectURIsField)
	return app.Save(tenants)
}
