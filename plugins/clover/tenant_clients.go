package clover

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"errors"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// Tenants are OAuth2 clients of a Clover server: the client id is the
// tenant's record id, the secret is shown once when it is made and kept
// only as a hash, in a table outside the collections.
const (
	secretsTable = "_clover_client_secrets"
	// FirstPartyField marks a tenant allowed the password grant.
	FirstPartyField = "first_party"
)

// SignedTokenLifetime is the longest a token Clover signs lives: a retired
// signing key stays published that long.
const SignedTokenLifetime = time.Hour

// ErrInvalidClient is the error of a client id and secret that do not
// match a tenant (OAuth2's invalid_client).
var ErrInvalidClient = errors.New("clover: invalid client")

// NewClientSecret makes a new secret for tenant, saves its hash (the old
// secret stops working) and returns the secret: it is not kept anywhere.
func NewClientSecret(app core.App, tenant *core.Record) (string, error) {
	secret := "cs_" + rand.Text() + rand.Text() // 256 bits from the system's source
	if err := storeSecretHash(app, tenant.Id, secret); err != nil {
		return "", err
	}
	return secret, nil
}

// AuthenticateClient returns the tenant whose id and secret these are.
func AuthenticateClient(app core.App, clientID, secret string) (*core.Record, error) {
	tenant, err := app.FindRecordById(TenantsCollection, clientID)
	if errors.Is(err, sql.ErrNoRows) {
		hashSecret(secret) // the same work for an unknown id
		return nil, ErrInvalidClient
	}
	if err != nil {
		return nil, err
	}
	var stored string
	err = app.DB().NewQuery("SELECT [[hash]] FROM {{" + secretsTable + "}} WHERE [[tenant]] = {:tenant}").
		Bind(dbx.Params{"tenant": tenant.Id}).Row(&stored)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if stored == "" || subtle.ConstantTimeCompare([]byte(stored), []byte(hashSecret(secret))) != 1 {
		return nil, ErrInvalidClient
	}
	return tenant, nil
}

// hashSecret: the secrets are 256 random bits, so one SHA-256 is enough
// (a slow hash guards guessable passwords, not these).
func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// forgetClientSecret drops a deleted tenant's secret, so that it never
// authenticates a tenant made later with the same id.
func forgetClientSecret(e *core.RecordEvent) error {
	if err := e.Next(); err != nil {
		return err
	}
	_, err := e.App.DB().NewQuery("DELETE FROM {{" + secretsTable + "}} WHERE [[tenant]] = {:tenant}").
		Bind(dbx.Params{"tenant": e.Record.Id}).Execute()
	return err
}
