package clover

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/pocketbase/pocketbase/core"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/postr-inc/hapta/plugins/clover/internal/signing"
)

// storage is what zitadel's OpenID provider keeps and looks up, on the
// app's database: tenants are the clients, the users collection the
// people, memberships their roles and clearance.
type storage struct {
	app      core.App
	users    string // the users collection
	keys     *signing.Keys
	loginURL func(authRequestID string) string
}

var (
	_ op.Storage                        = (*storage)(nil)
	_ op.ClientCredentialsStorage       = (*storage)(nil)
	_ op.CanGetPrivateClaimsFromRequest = (*storage)(nil)
)

// The claims of a Clover access token beyond RFC 9068's.
const (
	RolesClaim     = "roles" // the names of the user's roles in the tenant
	ClearanceClaim = "clr"   // the highest security_level of those roles
)

func (s *storage) GetClientByClientID(ctx context.Context, clientID string) (op.Client, error) {
	tenant, err := s.app.FindRecordById(TenantsCollection, clientID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, oidc.ErrInvalidClient().WithDescription("unknown client")
	}
	if err != nil {
		return nil, err
	}
	return &tenantClient{tenant: tenant, loginURL: s.loginURL}, nil
}

func (s *storage) AuthorizeClientIDSecret(ctx context.Context, clientID, secret string) error {
	_, err := s.ClientCredentials(ctx, clientID, secret)
	return err
}

// ClientCredentials authenticates a tenant by its id and secret.
func (s *storage) ClientCredentials(ctx context.Context, clientID, secret string) (op.Client, error) {
	tenant, err := AuthenticateClient(s.app, clientID, secret)
	if errors.Is(err, ErrInvalidClient) {
		return nil, oidc.ErrInvalidClient().WithDescription("wrong client id or secret")
	}
	if err != nil {
		return nil, err
	}
	return &tenantClient{tenant: tenant, loginURL: s.loginURL}, nil
}

// ClientCredentialsTokenRequest is a tenant's own token: its subject is
// the tenant.
func (s *storage) ClientCredentialsTokenRequest(ctx context.Context, clientID string, scopes []string) (op.TokenRequest, error) {
	return &clientGrant{grant{Tenant: clientID, Subject: clientID, Scopes: scopes, AuthTime: time.Now().UTC()}}, nil
}

// GetPrivateClaimsFromRequest adds the user's roles and clearance in the
// tenant to an access token; a tenant's own token has neither.
func (s *storage) GetPrivateClaimsFromRequest(ctx context.Context, request op.TokenRequest, _ []string) (map[string]any, error) {
	g, ok := request.(familyGrant)
	if !ok || !g.isUser() {
		return nil, nil
	}
	return s.membershipClaims(g.base().Tenant, g.GetSubject())
}

func (s *storage) GetPrivateClaimsFromScopes(ctx context.Context, userID, clientID string, _ []string) (map[string]any, error) {
	if userID == clientID {
		return nil, nil
	}
	return s.membershipClaims(clientID, userID)
}

func (s *storage) membershipClaims(tenantID, userID string) (map[string]any, error) {
	membership, ok, err := FindMembership(s.app, tenantID, userID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, oidc.ErrAccessDenied().WithDescription("the user is not a member of the tenant")
	}
	return map[string]any{RolesClaim: membership.Roles, ClearanceClaim: membership.HighestClearance}, nil
}

// SetUserinfoFromScopes fills the ID token's user claims.
func (s *storage) SetUserinfoFromScopes(ctx context.Context, info *oidc.UserInfo, userID, clientID string, scopes []string) error {
	if userID == clientID {
		info.Subject = userID
		return nil
	}
	user, err := s.app.FindRecordById(s.users, userID)
	if err != nil {
		return oidc.ErrAccessDenied().WithDescription("unknown user")
	}
	info.Subject = user.Id
	for _, scope := range scopes {
		switch scope {
		case oidc.ScopeEmail:
			info.Email, info.EmailVerified = user.Email(), oidc.Bool(user.Verified())
		case oidc.ScopeProfile:
			info.Name = user.GetString("name")
			info.PreferredUsername = user.Email()
		}
	}
	return nil
}

// SetUserinfoFromToken answers userinfo for a live access token.
func (s *storage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	row, err := s.activeAccessToken(tokenID, subject)
	if err != nil {
		return err
	}
	if err := s.SetUserinfoFromScopes(ctx, info, subject, row.Tenant, s.scopesOf(row)); err != nil {
		return err
	}
	claims, err := s.GetPrivateClaimsFromScopes(ctx, subject, row.Tenant, nil)
	for name, value := range claims {
		info.AppendClaims(name, value)
	}
	return err
}

// SetIntrospectionFromToken answers introspection for a live access token
// of the asking tenant; any other token is inactive to it.
func (s *storage) SetIntrospectionFromToken(ctx context.Context, answer *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	row, err := s.activeAccessToken(tokenID, subject)
	if err != nil {
		return err
	}
	if row.Tenant != clientID {
		return oidc.ErrInvalidRequest().WithDescription("the token is not active")
	}
	info := &oidc.UserInfo{}
	if err := s.SetUserinfoFromToken(ctx, info, tokenID, subject, ""); err != nil {
		return err
	}
	answer.SetUserInfo(info)
	answer.Scope = s.scopesOf(row)
	answer.ClientID = row.Tenant
	answer.Audience = []string{row.Tenant}
	answer.TokenType = oidc.BearerToken
	answer.Expiration = oidc.FromTime(time.UnixMilli(row.Expires))
	answer.JWTID = tokenID
	answer.Claims = info.Claims
	return nil
}

func (s *storage) GetKeyByIDAndClientID(ctx context.Context, keyID, clientID string) (*jose.JSONWebKey, error) {
	return nil, oidc.ErrUnsupportedGrantType().WithDescription("JWT profile grants are not supported")
}

func (s *storage) ValidateJWTProfileScopes(ctx context.Context, userID string, scopes []string) ([]string, error) {
	return nil, oidc.ErrUnsupportedGrantType().WithDescription("JWT profile grants are not supported")
}

// SigningKey is the active key.
func (s *storage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	key, err := s.keys.Active()
	if err != nil {
		return nil, err
	}
	return signingKey{key}, nil
}

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{signing.Algorithm}, nil
}

// KeySet is every published key: the active one and the retired ones
// whose tokens may still live.
func (s *storage) KeySet(ctx context.Context) ([]op.Key, error) {
	published, err := s.keys.Published()
	if err != nil {
		return nil, err
	}
	keys := make([]op.Key, len(published.Keys))
	for i, key := range published.Keys {
		keys[i] = publicKey{key}
	}
	return keys, nil
}

func (s *storage) Health(ctx context.Context) error {
	_, err := s.app.DB().NewQuery("SELECT 1").Execute()
	return err
}

type signingKey struct{ key *signing.Key }

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return signing.Algorithm }
func (k signingKey) Key() any                                    { return k.key.Private }
func (k signingKey) ID() string                                  { return k.key.ID }

type publicKey struct{ key jose.JSONWebKey }

func (k publicKey) ID() string { return k.key.KeyID }
func (k publicKey) Algorithm() jose.SignatureAlgorithm {
	return jose.SignatureAlgorithm(k.key.Algorithm)
}
func (k publicKey) Use() string { return k.key.Use }
func (k publicKey) Key() any    { return k.key.Key }
