package clover

import (
	"crypto/rand"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// passwordGrant is OAuth2's resource owner password grant (RFC 6749 4.3)
// for first-party tenants: the user's email and password in the users
// collection, a member of the tenant. It starts a new token family.
func (s *server) passwordGrant(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	clientID, secret, ok := r.BasicAuth()
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
		op.RequestError(w, r, oidc.ErrUnauthorizedClient().WithDescription("only first-party tenants may use the password grant"), nil)
		return
	}
	userID, err := s.checkPassword(clientID, r.PostFormValue("username"), r.PostFormValue("password"))
	if err != nil {
		op.RequestError(w, r, err, nil)
		return
	}
	scopes := strings.Fields(r.PostFormValue("scope"))
	request := &refreshGrant{grant{Tenant: clientID, Subject: userID, Scopes: scopes, AMR: []string{"pwd"},
		AuthTime: time.Now().UTC().Truncate(time.Second), Family: newID()}}
	accessToken, refreshToken, validity, err := op.CreateAccessToken(ctx, request, client.AccessTokenType(), s.provider, client, "")
	if err != nil {
		op.RequestError(w, r, err, nil)
		return
	}
	answer := &oidc.AccessTokenResponse{AccessToken: accessToken, RefreshToken: refreshToken, TokenType: oidc.BearerToken,
		ExpiresIn: uint64(validity.Seconds()), Scope: scopes}
	if strings.Contains(" "+r.PostFormValue("scope")+" ", " "+oidc.ScopeOpenID+" ") {
		if answer.IDToken, err = op.CreateIDToken(ctx, s.issuer(), request, client.IDTokenLifetime(), accessToken, "", s.storage, client); err != nil {
			op.RequestError(w, r, err, nil)
			return
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	httphelper.MarshalJSON(w, answer)
}

// checkPassword is the id of the user with this email and password, a
// member of the tenant. A collection that asks for MFA cannot sign in
// with a password alone: its users use the authorization code flow.
func (s *server) checkPassword(tenantID, email, password string) (string, error) {
	denied := oidc.ErrInvalidGrant().WithDescription("wrong username or password")
	if email == "" || password == "" {
		return "", oidc.ErrInvalidRequest().WithDescription("username and password are required")
	}
	users, err := s.app.FindCachedCollectionByNameOrId(s.storage.users)
	if err != nil {
		return "", err
	}
	if !users.PasswordAuth.Enabled {
		return "", oidc.ErrInvalidGrant().WithDescription("password sign-in is disabled for these users")
	}
	user, err := s.app.FindAuthRecordByEmail(users, email)
	if err != nil {
		dummyPasswordCheck(password) // the same work for an unknown email
		return "", denied
	}
	if !user.ValidatePassword(password) {
		return "", denied
	}
	if users.MFA.Enabled {
		return "", oidc.ErrInvalidGrant().WithDescription("these users sign in with a second factor: use the authorization code flow")
	}
	if _, member, err := FindMembership(s.app, tenantID, user.Id); err != nil {
		return "", err
	} else if !member {
		return "", denied
	}
	return user.Id, nil
}

// dummyHash is checked against for an unknown email, so that its answer
// takes as long as a wrong password's.
var dummyHash = sync.OnceValue(func() []byte {
	hash, _ := bcrypt.GenerateFromPassword([]byte(rand.Text()), bcrypt.DefaultCost)
	return hash
})

func dummyPasswordCheck(password string) {
	_ = bcrypt.CompareHashAndPassword(dummyHash(), []byte(password))
}
