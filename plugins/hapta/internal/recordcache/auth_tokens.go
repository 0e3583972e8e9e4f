package recordcache

import (
	"slices"
	"strings"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
	"github.com/pocketbase/pocketbase/tools/security"
	"github.com/pocketbase/pocketbase/tools/types"
	"github.com/spf13/cast"
)

// authTokensBytes bounds the verified tokens kept, keys and records included.
const authTokensBytes = 8 << 20

// AuthTokens keeps the auth records of verified PocketBase auth tokens.
// PocketBase verifies a caller's token on every request: it reads the
// record from the database, then checks the signature with the record's
// tokenKey and its collection's secret. A token is verified once here, and
// its record served while neither the record (a password change moves its
// tokenKey; a delete) nor any collection (its secret) has been written, the
// token has not expired, and at most the cache's longest TTL has passed
// (for writes that bypass PocketBase).
type AuthTokens struct {
	versions *Versions
	verified *otter.Cache[string, *authToken]
	maxAge   time.Duration
}

type authToken struct {
	record   *core.Record
	expires  time.Time
	versions []version
}

func newAuthTokens(versions *Versions, maxAge time.Duration) *AuthTokens {
	return &AuthTokens{versions: versions, maxAge: maxAge, verified: otter.Must(&otter.Options[string, *authToken]{
		MaximumWeight: authTokensBytes,
		Weigher: func(token string, _ *authToken) uint32 {
			return uint32(len(token) + 1024) // a record of an auth collection, roughly
		},
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, *authToken]) time.Duration {
			return min(maxAge, time.Until(e.Value.expires))
		}),
	})}
}

// Middleware replaces PocketBase's auth token loader (same id, priority
// and behaviour: a token it cannot verify leaves the request anonymous).
func (t *AuthTokens) Middleware() *hook.Handler[*core.RequestEvent] {
	return &hook.Handler[*core.RequestEvent]{
		Id:       apis.DefaultLoadAuthTokenMiddlewareId,
		Priority: apis.DefaultLoadAuthTokenMiddlewarePriority,
		Func: func(e *core.RequestEvent) error {
			if e.Auth == nil {
				e.Auth = t.record(e.App, bearer(e.Request.Header.Get("Authorization")))
			}
			return e.Next()
		},
	}
}

// record is the auth record of token, nil when it is not a valid auth
// token. Each caller gets its own copy (detached): handlers may change
// e.Auth.
func (t *AuthTokens) record(app core.App, token string) *core.Record {
	if token == "" {
		return nil
	}
	if kept, ok := t.verified.GetIfPresent(token); ok && unchanged(kept.versions) && time.Now().Before(kept.expires) {
		return detached(kept.record)
	}
	claims, err := security.ParseUnverifiedJWT(token)
	if err != nil {
		app.Logger().Debug("loadAuthToken failure", "error", err)
		return nil
	}
	// the versions before the record is read: a write from here on
	// voids what is verified
	snapshot := t.versions.snapshot(Deps{Epoch: t.versions.Epoch(), Record: RecordRef{
		CollectionID: cast.ToString(claims[core.TokenClaimCollectionId]), ID: cast.ToString(claims[core.TokenClaimId]),
	}})
	record, err := app.FindAuthRecordByToken(token, core.TokenTypeAuth)
	if err != nil {
		app.Logger().Debug("loadAuthToken failure", "error", err)
		return nil
	}
	expires := time.Now().Add(t.maxAge)
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		expires = exp.Time
	}
	if unchanged(snapshot) {
		t.verified.Set(token, &authToken{record: detached(record), expires: expires, versions: snapshot})
	}
	return record
}

// bearer is PocketBase's reading of the Authorization header: the token,
// with or without a "Bearer " prefix.
func bearer(header string) string {
	if len(header) > 7 && strings.EqualFold(header[:7], "Bearer ") {
		return header[7:]
	}
	return header
}

// detached is a copy of record that shares nothing a handler could change
// in place: Clone copies the fields' map, not the slices and JSON bytes in
// it, which PocketBase's own loader gives each request anew.
func detached(record *core.Record) *core.Record {
	copied := record.Clone()
	for name, value := range copied.FieldsData() {
		switch value := value.(type) {
		case []string:
			copied.SetRaw(name, slices.Clone(value))
		case types.JSONRaw:
			copied.SetRaw(name, slices.Clone(value))
		}
	}
	return copied
}
