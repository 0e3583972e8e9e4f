package clover

import (
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// GrantTypePassword is OAuth2's resource owner password grant, which only
// first-party tenants may use.
const GrantTypePassword oidc.GrantType = "password"

// The lifetimes of what a Clover server issues. Access and ID tokens are
// signed, so they live at most SignedTokenLifetime.
const (
	AccessTokenLifetime  = 15 * time.Minute
	IDTokenLifetime      = 15 * time.Minute
	RefreshTokenLifetime = 30 * 24 * time.Hour
	authRequestLifetime  = 10 * time.Minute
)

// tenantClient is a tenant seen as an OAuth2 client: confidential, with
// its secret in the HTTP Basic header, the code flow with PKCE, refresh
// tokens, client credentials and, first-party only, the password grant.
type tenantClient struct {
	tenant   *core.Record
	loginURL func(authRequestID string) string
}

var _ op.Client = (*tenantClient)(nil)

func (c *tenantClient) GetID() string { return c.tenant.Id }

func (c *tenantClient) RedirectURIs() []string {
	var uris []string
	_ = c.tenant.UnmarshalJSONField(RedirectURIsField, &uris) // not a list: no redirect is allowed
	return uris
}

func (c *tenantClient) PostLogoutRedirectURIs() []string    { return nil }
func (c *tenantClient) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c *tenantClient) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodBasic }
func (c *tenantClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *tenantClient) LoginURL(id string) string            { return c.loginURL(id) }
func (c *tenantClient) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeJWT }
func (c *tenantClient) IDTokenLifetime() time.Duration       { return IDTokenLifetime }
func (c *tenantClient) DevMode() bool                        { return false }
func (c *tenantClient) IsScopeAllowed(string) bool           { return false }
func (c *tenantClient) IDTokenUserinfoClaimsAssertion() bool { return false }
func (c *tenantClient) ClockSkew() time.Duration             { return 0 }
func (c *tenantClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}
func (c *tenantClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}

func (c *tenantClient) GrantTypes() []oidc.GrantType {
	grants := []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken, oidc.GrantTypeClientCredentials}
	if c.tenant.GetBool(FirstPartyField) {
		grants = append(grants, GrantTypePassword)
	}
	return grants
}
