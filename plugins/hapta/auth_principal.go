package hapta

import (
	"net/http"
	"strings"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
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
	// those roles; empty unless a plugin fills them in through OnPrincipal
	// (plugins/clover does, from the X-Tenant-ID header).
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

// PrincipalEvent is the event of OnPrincipal: the principal of an
// authenticated request or login, which the handlers may add to.
type PrincipalEvent struct {
	hook.Event
	App       core.App
	Principal *Principal
	// Header is the request's headers (for a login from Go, its Caller's).
	Header http.Header
}

// principalHookKey keeps OnPrincipal's hook in the app's store.
const principalHookKey = "hapta.onPrincipal"

// OnPrincipal is the hook that completes a principal once hapta has built
// it from the caller's auth record: a plugin binds it to add the tenant,
// the roles and the clearance (handlers call e.Next()). It runs for every
// authenticated hapta route request and for every completed login, not for
// anonymous ones. It may be bound before or after hapta is registered.
func OnPrincipal(app core.App) *hook.Hook[*PrincipalEvent] {
	return app.Store().GetOrSet(principalHookKey, func() any {
		return &hook.Hook[*PrincipalEvent]{}
	}).(*hook.Hook[*PrincipalEvent])
}

// principalOf builds the principal from PocketBase's own authentication
// of the request (e.Auth, loaded from its Authorization token).
func principalOf(e *core.RequestEvent) (Principal, error) {
	if e.Auth == nil {
		return Principal{}, nil
	}
	strategy, ok := e.Get(strategyKey).(string)
	if !ok {
		strategy = StrategyToken
	}
	return newPrincipal(e.App, e.Auth, strategy, authToken(e), e.Request.Header)
}

// newPrincipal is the principal of an auth record authenticated by token
// (already verified: only its expiry is read) with strategy, completed by
// OnPrincipal's handlers.
func newPrincipal(app core.App, record *core.Record, strategy, token string, header http.Header) (Principal, error) {
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
	cloverPrincipal(&p, record)
	if app == nil { // outside PocketBase (HTTPHandler): no plugins to ask
		return p, nil
	}
	if header == nil {
		header = http.Header{}
	}
	event := &PrincipalEvent{App: app, Principal: &p, Header: header}
	if err := OnPrincipal(app).Trigger(event); err != nil {
		return Principal{}, err
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
