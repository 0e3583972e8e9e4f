package hapta

import (
	"strings"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/security"
	"github.com/spf13/cast"
)

// StrategyToken is the Strategy of a principal authenticated by a
// PocketBase auth token (of a superuser or of any auth collection).
const StrategyToken = "token"

// Principal is who makes the request.
type Principal struct {
	IsAuthenticated bool      `json:"isAuthenticated"`
	ID              string    `json:"id,omitempty"`
	Collection      string    `json:"collection,omitempty"` // the auth collection's name
	Username        string    `json:"username,omitempty"`
	Email           string    `json:"email,omitempty"`
	Strategy        string    `json:"strategy,omitempty"`
	ExpiresAt       time.Time `json:"expiresAt,omitzero"` // when the credential expires

	// The active tenant, the roles held there and the highest clearance of
	// those roles; filled in by the tenant support (plugins/clover).
	TenantID         string   `json:"tenantId,omitempty"`
	Roles            []string `json:"roles,omitempty"`
	HighestClearance int      `json:"highestClearance"`

	// Record is the authenticated PocketBase record, nil when anonymous.
	Record *core.Record `json:"-"`
}

// IsSuperuser reports whether the principal is a PocketBase superuser.
func (p Principal) IsSuperuser() bool {
	return p.IsAuthenticated && p.Collection == core.CollectionNameSuperusers
}

// principalOf builds the principal from PocketBase's own authentication
// of the request (e.Auth, loaded from its Authorization token).
func principalOf(e *core.RequestEvent) Principal {
	if e.Auth == nil {
		return Principal{}
	}
	p := Principal{
		IsAuthenticated: true,
		ID:              e.Auth.Id,
		Collection:      e.Auth.Collection().Name,
		Email:           e.Auth.Email(),
		Username:        e.Auth.GetString("username"),
		Strategy:        StrategyToken,
		Record:          e.Auth,
	}
	// PocketBase has verified the token already; only its expiry is read here
	if claims, err := security.ParseUnverifiedJWT(authToken(e)); err == nil {
		if exp := cast.ToInt64(claims["exp"]); exp > 0 {
			p.ExpiresAt = time.Unix(exp, 0).UTC()
		}
	}
	return p
}

// authToken reads the token as PocketBase does: with or without "Bearer ".
func authToken(e *core.RequestEvent) string {
	token := e.Request.Header.Get("Authorization")
	if len(token) > 7 && strings.EqualFold(token[:7], "Bearer ") {
		return token[7:]
	}
	return token
}
