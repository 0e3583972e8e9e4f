package clover

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/router"
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/postr-inc/hapta/plugins/hapta"
)

// The grants only first-party tenants may use: OAuth2's resource owner
// password grant (RFC 6749 4.3), and an RFC 8693 token exchange of a
// PocketBase auth token of the server's users collection, got by any
// sign-in PocketBase offers there (password, OTP, OAuth2, MFA): what a
// Hapta client uses to sign its users in through Clover.
const (
	GrantTypeTokenExchange oidc.GrantType = oidc.GrantTypeTokenExchange
	// PocketBaseTokenType is the subject_token_type of a PocketBase auth token.
	PocketBaseTokenType = "urn:pocketbase:params:oauth:token-type:auth"
)

// firstPartyGrant answers the password grant and the exchange of a
// PocketBase token; each starts a new token family.
func (s *server) firstPartyGrant(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	clientID, secret, ok := basicCredentials(r)
	if !ok {
		op.RequestError(w, r, oidc.ErrInvalidClient().WithDescription("send the client id and secret with HTTP Basic"), nil)
		return
	}
	client, err := s.storage.ClientCredentials(ctx, clientID, secret)
	if err != nil {
		op.RequestError(w, r, err, nil)
		return
	}
	if !op.ValidateGrantType(client, GrantTypePassword) {
		op.RequestError(w, r, oidc.ErrUnauthorizedClient().WithDescription("only first-party tenants may use this grant"), nil)
		return
	}
	var user *core.Record
	var amr []string
	if r.PostFormValue("grant_type") == string(GrantTypePassword) {
		user, err = s.checkPassword(r, clientID, r.PostFormValue("username"), r.PostFormValue("password"))
		amr = []string{"pwd"}
	} else {
		user, err = s.checkPocketBaseToken(clientID, r.PostFormValue("subject_token_type"), r.PostFormValue("subject_token"))
	}
	if err != nil {
		op.RequestError(w, r, err, nil)
		return
	}
	scopes := strings.Fields(r.PostFormValue("scope"))
	request := &refreshGrant{grant{Tenant: clientID, Subject: user.Id, Scopes: scopes, AMR: amr,
		AuthTime: time.Now().UTC().Truncate(time.Second), Family: newID(), UserKey: userKey(user)}}
	accessToken, refreshToken, validity, err := op.CreateAccessToken(ctx, request, client.AccessTokenType(), s.provider, client, "")
	if err != nil {
		op.RequestError(w, r, err, nil)
		return
	}
	answer := &oidc.AccessTokenResponse{AccessToken: accessToken, RefreshToken: refreshToken, TokenType: oidc.BearerToken,
		ExpiresIn: uint64(validity.Seconds()), Scope: scopes}
	if slices.Contains(scopes, oidc.ScopeOpenID) {
		if answer.IDToken, err = op.CreateIDToken(ctx, s.issuer(), request, client.IDTokenLifetime(), accessToken, "", s.storage, client); err != nil {
			op.RequestError(w, r, err, nil)
			return
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	if r.PostFormValue("grant_type") == string(GrantTypeTokenExchange) {
		httphelper.MarshalJSON(w, struct {
			*oidc.AccessTokenResponse
			IssuedTokenType oidc.TokenType `json:"issued_token_type"`
		}{answer, oidc.AccessTokenType})
		return
	}
	httphelper.MarshalJSON(w, answer)
}

// checkPocketBaseToken is the user of a PocketBase auth token of the
// users collection, a member of the tenant.
func (s *server) checkPocketBaseToken(tenantID, tokenType, token string) (*core.Record, error) {
	if tokenType != PocketBaseTokenType || token == "" {
		return nil, oidc.ErrInvalidRequest().WithDescription("send subject_token with subject_token_type " + PocketBaseTokenType)
	}
	user, err := s.app.FindAuthRecordByToken(token, core.TokenTypeAuth)
	if err != nil || user.Collection().Name != s.storage.users {
		return nil, oidc.ErrInvalidGrant().WithDescription("the subject token is invalid or expired")
	}
	if _, member, err := FindMembership(s.app, tenantID, user.Id); err != nil {
		return nil, err
	} else if !member {
		return nil, oidc.ErrInvalidGrant().WithDescription("the user is not a member of the tenant")
	}
	return user, nil
}

// checkPassword is the user with this email and password (authenticate),
// a member of the tenant.
func (s *server) checkPassword(r *http.Request, tenantID, email, password string) (*core.Record, error) {
	if email == "" || password == "" {
		return nil, oidc.ErrInvalidRequest().WithDescription("username and password are required")
	}
	user, err := s.authenticate(r, email, password)
	if err != nil {
		return nil, err
	}
	if _, member, err := FindMembership(s.app, tenantID, user.Id); err != nil {
		return nil, err
	} else if !member {
		return nil, oidc.ErrInvalidGrant().WithDescription("wrong username or password, or the user may not sign in")
	}
	return user, nil
}

// authenticate is the user of an email and password, checked by
// PocketBase's own auth-with-password of the users collection, run in
// process by hapta's Authenticator: the collection's auth rule, hooks,
// rate limits (for the request's client) and hapta's lockout apply as on
// PocketBase's API. A user who needs a second factor (MFA) is refused.
func (s *server) authenticate(r *http.Request, email, password string) (*core.Record, error) {
	header := r.Header.Clone()
	header.Del("Authorization") // the tenant's credentials, not a user's
	result, err := hapta.ServicesOf(s.app).Authenticate.Direct().Password(hapta.Caller{RemoteAddr: r.RemoteAddr, Header: header},
		hapta.PasswordLogin{Collection: s.storage.users, Identity: email, Password: password})
	var refused *router.ApiError
	switch {
	case errors.As(err, &refused) && refused.Status == http.StatusTooManyRequests:
		return nil, oidc.ErrInvalidGrant().WithDescription("too many attempts; try again later")
	case errors.As(err, &refused) && refused.Status < 500:
		return nil, oidc.ErrInvalidGrant().WithDescription("wrong username or password, or the user may not sign in")
	case err != nil:
		return nil, err
	case !result.IsAuthenticated:
		return nil, oidc.ErrInvalidGrant().WithDescription("this user signs in with a second factor: use the authorization code flow")
	}
	return result.Principal.Record, nil
}
