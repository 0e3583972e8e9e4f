package hapta

import (
	"strings"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/security"
	"github.com/spf13/cast"

	"github.com/postr-inc/hapta/plugins/clover"
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

// TenantHeader names the tenant a request acts in. It counts only when the
// principal is a member of that tenant.
const TenantHeader = "X-Tenant-ID"

// principalOf builds the principal from PocketBase's own authentication
// of the request (e.Auth, loaded from its Authorization token) and, with
// app, the membership of the tenant the request names.
func principalOf(e *core.RequestEvent, app core.App) (Principal, error) {
	if e.Auth == nil {
		return Principal{}, nil
	}
	strategy, ok := e.Get(strategyKey).(string)
	if !ok {
		strategy = StrategyToken
	}
	return newPrincipal(app, e.Auth, strategy, authToken(e), e.Request.Header.Get(TenantHeader))
}

// newPrincipal is the principal of an auth record authenticated by token
// (already verified: only its expiry is read) with strategy, in tenantID
// when the record is a member of it (app nil: no tenant).
func newPrincipal(app core.App, record *core.Record, strategy, token, tenantID string) (Principal, error) {
	p := Principal{
		IsAuthenticated: true,
		ID:              record.Id,
		Collection:      record.Collection().Name,
		Email:           record.Email(),
		Username:        record.GetString("username"),
		Strategy:        strategy,
		Record:          record,
	}
	if claims, err := security.ParseUnverifiedJWT(token); err == nil {
		if exp := cast.ToInt64(claims["exp"]); exp > 0 {
			p.ExpiresAt = time.Unix(exp, 0).UTC()
		}
	}

	if tenantID != "" && app != nil {
		membership, ok, err := clover.FindMembership(app, tenantID, p.ID)
		if err != nil {
			return Principal{}, err
		}
		if ok {
			p.TenantID, p.Roles, p.HighestClearance = tenantID, membership.Roles, membership.HighestClearance
		}
	}
	return p, nil
}

// authToken reads the token as PocketBase does: with or without "Bearer ".
func authToken(e *core.RequestEvent) string {
	token := e.Request.Header.Get("Authorization")
	if len(token) > 7 && strings.EqualFold(token[:7], "Bearer ") {
		return token[7:]
	}
	return token
}
