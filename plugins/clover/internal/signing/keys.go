// Package signing keeps the asymmetric keys a Clover server signs its
// tokens with: one active key at a time, rotated on demand, and the
// retired ones published (JWKS) until every token they signed has expired.
// The keys live in a table of the app's database, outside the collections,
// so that no API answer carries them.
package signing

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// Algorithm is the signature algorithm of every key: RS256, which every
// OpenID Connect client supports.
const Algorithm = jose.RS256

const table = "_clover_signing_keys"

// Key is a signing key with its id.
type Key struct {
	ID      string
	Private *rsa.PrivateKey
	Created time.Time
	Retired time.Time // zero while active
}

// Keys are the signing keys of one app.
type Keys struct {
	app core.App
	// tokenLifetime is how long a retired key stays published: the longest
	// a token it signed can live
	tokenLifetime time.Duration

	mu sync.Mutex // one rotation at a time

	// parsed keeps every key parsed once: a key is read on every token
	parsed sync.Map // kid → *rsa.PrivateKey
}

// Open makes the keys' table if needed.
func Open(app core.App, tokenLifetime time.Duration) (*Keys, error) {
	_, err := app.DB().NewQuery("CREATE TABLE IF NOT EXISTS {{" + table + "}} (" +
		"[[kid]] TEXT PRIMARY KEY NOT NULL, [[private]] TEXT NOT NULL, [[created]] INTEGER NOT NULL, [[retired]] INTEGER NOT NULL DEFAULT 0)").Execute()
	if err != nil {
		return nil, err
	}
	return &Keys{app: app, tokenLifetime: tokenLifetime}, nil
}

// Active is the key to sign with, made on first use.
func (k *Keys) Active() (*Key, error) {
	keys, err := k.load("[[retired]] = 0")
	if err != nil {
		return nil, err
	}
	if len(keys) > 0 {
		return keys[len(keys)-1], nil
	}
	return k.Rotate()
}

// Rotate makes a new active key and retires the others; it drops the
// retired keys whose tokens have all expired.
func (k *Keys) Rotate() (*Key, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	private, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	key := &Key{ID: rand.Text()[:20], Private: private, Created: time.Now()}
	encoded := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(private)})
	now := key.Created.UnixMilli()
	err = k.app.RunInTransaction(func(txApp core.App) error {
		if _, err := txApp.DB().NewQuery("UPDATE {{" + table + "}} SET [[retired]] = {:now} WHERE [[retired]] = 0").
			Bind(dbx.Params{"now": now}).Execute(); err != nil {
			return err
		}
		if _, err := txApp.DB().NewQuery("DELETE FROM {{" + table + "}} WHERE [[retired]] > 0 AND [[retired]] < {:expired}").
			Bind(dbx.Params{"expired": now - k.tokenLifetime.Milliseconds()}).Execute(); err != nil {
			return err
		}
		_, err := txApp.DB().NewQuery("INSERT INTO {{" + table + "}} ([[kid]], [[private]], [[created]]) VALUES ({:kid}, {:private}, {:created})").
			Bind(dbx.Params{"kid": key.ID, "private": string(encoded), "created": now}).Execute()
		return err
	})
	if err != nil {
		return nil, err
	}
	return key, nil
}

// Published are the public keys a client verifies with: the active one and
// the retired ones whose tokens may still be alive.
func (k *Keys) Published() (jose.JSONWebKeySet, error) {
	keys, err := k.load("[[retired]] = 0 OR [[retired]] >= {:alive}", dbx.Params{"alive": time.Now().Add(-k.tokenLifetime).UnixMilli()})
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(keys))}
	for _, key := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &key.Private.PublicKey, KeyID: key.ID, Algorithm: string(Algorithm), Use: "sig"})
	}
	return set, nil
}

func (k *Keys) load(where string, params ...dbx.Params) ([]*Key, error) {
	var rows []struct {
		Kid     string `db:"kid"`
		Private string `db:"private"`
		Created int64  `db:"created"`
		Retired int64  `db:"retired"`
	}
	query := k.app.DB().NewQuery("SELECT [[kid]], [[private]], [[created]], [[retired]] FROM {{" + table + "}} WHERE " + where + " ORDER BY [[created]]")
	for _, p := range params {
		query.Bind(p)
	}
	if err := query.All(&rows); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	keys := make([]*Key, 0, len(rows))
	for _, row := range rows {
		private, err := k.parse(row.Kid, row.Private)
		if err != nil {
			return nil, err
		}
		key := &Key{ID: row.Kid, Private: private, Created: time.UnixMilli(row.Created)}
		if row.Retired > 0 {
			key.Retired = time.UnixMilli(row.Retired)
		}
		keys = append(keys, key)
	}
	return keys, nil
}

func (k *Keys) parse(kid, encoded string) (*rsa.PrivateKey, error) {
	if private, ok := k.parsed.Load(kid); ok {
		return private.(*rsa.PrivateKey), nil
	}
	block, _ := pem.Decode([]byte(encoded))
	if block == nil {
		return nil, fmt.Errorf("signing: key %s is damaged", kid)
	}
	private, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("signing: key %s: %w", kid, err)
	}
	k.parsed.Store(kid, private)
	return private, nil
}
