package clover

import (
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// grant is what the tokens of one request are issued for: a user (or, for
// client credentials, the tenant itself) in a tenant. Family groups every
// token of one sign-in: a reused refresh token revokes them all.
type grant struct {
	Tenant   string    `json:"tenant"`
	Subject  string    `json:"subject"`
	Scopes   []string  `json:"scopes"`
	AMR      []string  `json:"amr"`
	AuthTime time.Time `json:"authTime"`
	Family   string    `json:"family"`
	UserKey  string    `json:"userKey"` // the user's token key hash when they authenticated
}

func (g *grant) GetSubject() string     { return g.Subject }
func (g *grant) GetAudience() []string  { return []string{g.Tenant} }
func (g *grant) GetScopes() []string    { return g.Scopes }
func (g *grant) GetClientID() string    { return g.Tenant }
func (g *grant) GetAMR() []string       { return g.AMR }
func (g *grant) GetAuthTime() time.Time { return g.AuthTime }
func (g *grant) family() string         { return g.Family }
func (g *grant) isUser() bool           { return g.Subject != g.Tenant }
func (g *grant) base() *grant           { return g }

// authRequest is a sign-in through /authorize: its id is the family of
// the tokens its code is exchanged for.
type authRequest struct {
	grant
	ID              string                   `json:"id"`
	RedirectURI     string                   `json:"redirectUri"`
	State           string                   `json:"state"`
	Nonce           string                   `json:"nonce"`
	ResponseType    oidc.ResponseType        `json:"responseType"`
	ResponseMode    oidc.ResponseMode        `json:"responseMode"`
	Challenge       string                   `json:"challenge"`
	ChallengeMethod oidc.CodeChallengeMethod `json:"challengeMethod"`
	Browser         string                   `json:"browser"` // the hash of the cookie of the browser that opened the login page
	done            bool
}

var _ op.AuthRequest = (*authRequest)(nil)

func (r *authRequest) GetID() string                      { return r.ID }
func (r *authRequest) GetACR() string                     { return "" }
func (r *authRequest) GetNonce() string                   { return r.Nonce }
func (r *authRequest) GetRedirectURI() string             { return r.RedirectURI }
func (r *authRequest) GetResponseType() oidc.ResponseType { return r.ResponseType }
func (r *authRequest) GetResponseMode() oidc.ResponseMode { return r.ResponseMode }
func (r *authRequest) GetState() string                   { return r.State }
func (r *authRequest) Done() bool                         { return r.done }
func (r *authRequest) family() string                     { return r.ID }

func (r *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	return &oidc.CodeChallenge{Challenge: r.Challenge, Method: r.ChallengeMethod}
}

// refreshGrant is a refresh of a family's tokens, or the start of a family
// by the password grant: the library rotates the refresh token of both.
type refreshGrant struct{ grant }

var _ op.RefreshTokenRequest = (*refreshGrant)(nil)

func (r *refreshGrant) SetCurrentScopes(scopes []string) { r.Scopes = scopes }

// clientGrant is a tenant's own token (client credentials): no user, no
// refresh token.
type clientGrant struct{ grant }

// familyGrant is every request the storage issues tokens for.
type familyGrant interface {
	op.TokenRequest
	family() string
	isUser() bool
	base() *grant
}

var (
	_ familyGrant = (*authRequest)(nil)
	_ familyGrant = (*refreshGrant)(nil)
	_ familyGrant = (*clientGrant)(nil)
)
