package hapta

import (
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
	"github.com/spf13/cast"
)

// Hapta tokens are short-lived HS256 JWTs signed with JWT_SECRET, for
// handing a user's identity to another party for a moment (the original's
// createTemporaryToken). They are accepted wherever a PocketBase auth token
// is: by hapta routes and by PocketBase's own API.
const (
	// StrategyHaptaToken is the Strategy of a principal authenticated by a
	// hapta token.
	StrategyHaptaToken = "hapta_token"

	DefaultTokenLifetime = 15 * time.Minute
	MaxTokenLifetime     = time.Hour

	tokenIssuer   = "hapta"
	tokenAudience = "hapta"
	strategyKey   = "hapta.strategy"
)

// Tokens issues and verifies hapta tokens. The zero Tokens (outside
// PocketBase) has no secret, and answers ErrOutsidePocketBase.
type Tokens struct {
	app    core.App
	secret []byte
}

// Issue returns a token for the auth record that expires after lifetime
// (DefaultTokenLifetime when 0, at most MaxTokenLifetime). Changing the
// record's password (its tokenKey) revokes it, as for PocketBase's tokens.
func (t *Tokens) Issue(record *core.Record, lifetime time.Duration) (string, error) {
	if len(t.secret) == 0 {
		return "", ErrOutsidePocketBase
	}
	if record == nil || !record.Collection().IsAuth() {
		return "", errors.New("hapta: tokens are for records of auth collections")
	}
	if lifetime == 0 {
		lifetime = DefaultTokenLifetime
	}
	if lifetime < 0 || lifetime > MaxTokenLifetime {
		return "", fmt.Errorf("hapta: a token lifetime must be from 1s to %s", MaxTokenLifetime)
	}
	now := time.Now()
	claims := jwt.MapClaims{
		"iss": tokenIssuer,
		"aud": tokenAudience,
		"sub": record.Id,
		"col": record.Collection().Id,
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(lifetime).Unix(),
		"jti": rand.Text(),
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.signingKey(record))
}

// Verify returns the auth record of a valid token: signed with HS256 by
// this server for this record's current tokenKey, from hapta's issuer, for
// hapta's audience, not expired.
func (t *Tokens) Verify(token string) (*core.Record, error) {
	if t.app == nil {
		return nil, ErrOutsidePocketBase
	}
	var record *core.Record
	_, err := jwt.Parse(token, func(parsed *jwt.Token) (any, error) {
		claims, _ := parsed.Claims.(jwt.MapClaims)
		found, err := t.app.FindRecordById(cast.ToString(claims["col"]), cast.ToString(claims["sub"]))
		if err != nil || !found.Collection().IsAuth() {
			return nil, errors.New("unknown subject")
		}
		record = found
		return t.signingKey(found), nil
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(tokenIssuer),
		jwt.WithAudience(tokenAudience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
	)
	if err != nil {
		return nil, err
	}
	return record, nil
}

// signingKey binds a record's tokens to its tokenKey, which PocketBase
// renews when the password changes.
func (t *Tokens) signingKey(record *core.Record) []byte {
	return append(append([]byte{}, t.secret...), record.TokenKey()...)
}

// middleware authenticates requests whose Authorization is a
// hapta token, right after PocketBase tried its own tokens.
func (t *Tokens) middleware() *hook.Handler[*core.RequestEvent] {
	return &hook.Handler[*core.RequestEvent]{
		Id:       TokenMiddlewareId,
		Priority: TokenMiddlewarePriority,
		Func: func(e *core.RequestEvent) error {
			if e.Auth == nil {
				if token := authToken(e); token != "" {
					if record, err := t.Verify(token); err == nil {
						e.Auth = record
						e.Set(strategyKey, StrategyHaptaToken)
					}
				}
			}
			return e.Next()
		},
	}
}
