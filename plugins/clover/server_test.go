package clover_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	goidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/postr-inc/hapta/internal/testsupport"
	"github.com/postr-inc/hapta/plugins/clover"
)

// identityServer is the world of clover_test.go served as a Clover
// identity server: tenant A is first-party, B is not; both are OAuth2
// clients with a redirect URI on the test server.
type identityServer struct {
	*world
	issuer   string
	secrets  map[string]string // tenant id → client secret
	redirect string
	provider *goidc.Provider // go-oidc's view, from discovery
	browser  *http.Client    // the user's browser: it keeps cookies
}

// newBrowser is a browser that keeps cookies and shows where it is sent
// instead of going.
func newBrowser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

const testPassword = "password-for-tests-1" // testsupport.NewAuthRecord's

func newIdentityServer(t *testing.T) *identityServer {
	t.Helper()
	s := newIdentityServerAt(t, "")
	provider, err := goidc.NewProvider(context.Background(), s.issuer)
	if err != nil {
		t.Fatal("discovery:", err)
	}
	s.provider = provider
	return s
}

// newIdentityServerAt is the identity server with publicURL as its public
// URL ("" for its own), and the batch API on.
func newIdentityServerAt(t *testing.T, publicURL string) *identityServer {
	t.Helper()
	w := newWorldWith(t, clover.Config{Serve: true})
	if publicURL == "" {
		publicURL = w.server.URL
	}
	// set in memory, not saved: saving reloads every setting, which
	// PocketBase's log writer reads without a lock
	settings := w.app.Settings()
	settings.Meta.AppURL = publicURL
	settings.Batch.Enabled, settings.Batch.Timeout = true, 30 // for TestClientSecretsFromTheAdminUI, under -race on a busy machine
	s := &identityServer{world: w, issuer: publicURL + clover.ServerPath, secrets: map[string]string{}, redirect: w.server.URL + "/callback", browser: newBrowser()}
	for _, tenant := range []*core.Record{w.tenantA, w.tenantB} {
		tenant.Set(clover.RedirectURIsField, []string{s.redirect})
		tenant.Set(clover.FirstPartyField, tenant == w.tenantA)
		if err := w.app.Save(tenant); err != nil {
			t.Fatal(err)
		}
		secret, err := clover.NewClientSecret(w.app, tenant)
		if err != nil {
			t.Fatal(err)
		}
		s.secrets[tenant.Id] = secret
	}
	return s
}

// oauth2Config is tenant's client configuration, as any Go program using
// golang.org/x/oauth2 would write it.
func (s *identityServer) oauth2Config(tenant *core.Record) *oauth2.Config {
	endpoint := s.provider.Endpoint()
	endpoint.AuthStyle = oauth2.AuthStyleInHeader
	return &oauth2.Config{ClientID: tenant.Id, ClientSecret: s.secrets[tenant.Id], Endpoint: endpoint,
		RedirectURL: s.redirect, Scopes: []string{goidc.ScopeOpenID, goidc.ScopeOfflineAccess, "email"}}
}

// passwordToken signs user in to tenant with the password grant.
func (s *identityServer) passwordToken(t *testing.T, tenant *core.Record, user string) *oauth2.Token {
	t.Helper()
	token, err := s.oauth2Config(tenant).PasswordCredentialsToken(context.Background(), user+"@example.com", testPassword)
	if err != nil {
		t.Fatal("password grant:", err)
	}
	return token
}

// refresh uses a refresh token of tenant.
func (s *identityServer) refresh(tenant *core.Record, refreshToken string) (*oauth2.Token, error) {
	return s.oauth2Config(tenant).TokenSource(context.Background(), &oauth2.Token{RefreshToken: refreshToken}).Token()
}

// basicAuth is the Authorization header of a client id and secret.
func basicAuth(id, secret string) string {
	request, _ := http.NewRequest("GET", "/", nil)
	request.SetBasicAuth(id, secret)
	return request.Header.Get("Authorization")
}

// noRedirects is a browser that shows where it is sent instead of going.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func location(t *testing.T, rawURL string) *url.URL {
	t.Helper()
	res, err := noRedirects.Get(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound && res.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET %s: %d, want a redirect", rawURL, res.StatusCode)
	}
	to, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return to
}

// signIn runs the browser's part of the code flow for user: /authorize,
// the login page's PocketBase sign-in and its completion, the callback;
// it returns the code sent to the redirect URI.
func (s *identityServer) signIn(t *testing.T, config *oauth2.Config, user, verifier string) string {
	t.Helper()
	login := location(t, config.AuthCodeURL("state-1", oauth2.S256ChallengeOption(verifier)))
	if login.Path != clover.ServerPath+clover.LoginPath {
		t.Fatalf("/authorize sent the browser to %s, want the login page", login)
	}
	tenant, err := s.app.FindRecordById(clover.TenantsCollection, config.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if page := s.openLogin(t, s.browser, login); !strings.Contains(string(page.Raw), "<h1>Sign in to "+tenant.GetString("name")+"</h1>") {
		t.Fatalf("login page: %s", page.Raw)
	}
	done := s.completeLogin(t, login.Query().Get("authRequestID"), s.pocketBaseToken(t, user))
	if done.Status != 200 {
		t.Fatalf("completing the sign-in: %d %s", done.Status, done.Raw)
	}
	back, err := url.Parse(done.Body["redirect"].(string))
	if err != nil || back.Query().Get("state") != "state-1" || !strings.HasPrefix(back.String(), s.redirect+"?") {
		t.Fatalf("the sign-in sent the browser to %v", done.Body["redirect"])
	}
	return back.Query().Get("code")
}

// pocketBaseToken signs user in with PocketBase's own password endpoint,
// as the login page does.
func (s *identityServer) pocketBaseToken(t *testing.T, user string) string {
	t.Helper()
	answer := testsupport.CallJSON(t, "POST", s.server.URL+"/api/collections/users/auth-with-password",
		`{"identity": "`+user+`@example.com", "password": "`+testPassword+`"}`)
	if answer.Status != 200 {
		t.Fatalf("PocketBase sign-in of %s: %d %s", user, answer.Status, answer.Raw)
	}
	return answer.Body["token"].(string)
}

// openLogin opens the login page /authorize sent the browser to.
func (s *identityServer) openLogin(t *testing.T, browser *http.Client, login *url.URL) testsupport.Answer {
	t.Helper()
	page := testsupport.CallWith(t, browser, "GET", login.String(), "", nil)
	if page.Status != 200 {
		t.Fatalf("login page: %d %s", page.Status, page.Raw)
	}
	return page
}

// completeLogin completes a sign-in from the user's browser, as the login
// page's script does.
func (s *identityServer) completeLogin(t *testing.T, authRequestID, token string) testsupport.Answer {
	t.Helper()
	return completeLoginIn(t, s.browser, s.issuer, authRequestID, token)
}

func completeLoginIn(t *testing.T, browser *http.Client, issuer, authRequestID, token string) testsupport.Answer {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"authRequestID": authRequestID, "token": token})
	return testsupport.CallWith(t, browser, "POST", issuer+clover.LoginPath, "application/json", strings.NewReader(string(body)))
}

// form posts an OAuth2 form to a server endpoint as tenant.
func (s *identityServer) form(t *testing.T, tenant *core.Record, path string, values url.Values) testsupport.Answer {
	t.Helper()
	return testsupport.Call(t, "POST", s.issuer+path, "application/x-www-form-urlencoded", strings.NewReader(values.Encode()),
		"Authorization", basicAuth(tenant.Id, s.secrets[tenant.Id]))
}

func (s *identityServer) introspect(t *testing.T, tenant *core.Record, token string) map[string]any {
	t.Helper()
	answer := s.form(t, tenant, "/oauth/introspect", url.Values{"token": {token}})
	if answer.Status != 200 {
		t.Fatalf("introspection: %d %s", answer.Status, answer.Raw)
	}
	return answer.Body
}

// claims decodes a JWT's header and payload, unverified.
func claims(t *testing.T, jwt string) (header, payload map[string]any) {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	for i, into := range []*map[string]any{&header, &payload} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil || json.Unmarshal(raw, into) != nil {
			t.Fatalf("JWT part %d: %v", i, err)
		}
	}
	return header, payload
}

func TestDiscoveryAndKeys(t *testing.T) {
	t.Parallel()
	s := newIdentityServer(t)
	var document struct {
		Issuer        string   `json:"issuer"`
		JWKS          string   `json:"jwks_uri"`
		Token         string   `json:"token_endpoint"`
		Introspection string   `json:"introspection_endpoint"`
		Revocation    string   `json:"revocation_endpoint"`
		Userinfo      string   `json:"userinfo_endpoint"`
		Grants        []string `json:"grant_types_supported"`
		Challenges    []string `json:"code_challenge_methods_supported"`
	}
	if err := s.provider.Claims(&document); err != nil {
		t.Fatal(err)
	}
	if document.Issuer != s.issuer || document.JWKS != s.issuer+clover.KeysPath || document.Token != s.issuer+clover.TokenPath ||
		document.Introspection == "" || document.Revocation == "" || document.Userinfo == "" {
		t.Fatalf("discovery: %+v", document)
	}
	slices.Sort(document.Grants)
	if !slices.Equal(document.Grants, []string{"authorization_code", "client_credentials", "password", "refresh_token", "urn:ietf:params:oauth:grant-type:token-exchange"}) ||
		!slices.Equal(document.Challenges, []string{"S256"}) {
		t.Fatalf("grants %v, challenges %v", document.Grants, document.Challenges)
	}
	keys := testsupport.CallJSON(t, "GET", document.JWKS, "")
	if set, _ := keys.Body["keys"].([]any); keys.Status != 200 || len(set) != 1 || set[0].(map[string]any)["d"] != nil {
		t.Fatalf("JWKS: %d %s", keys.Status, keys.Raw)
	}
}

func TestCodeFlowWithPKCEForAStandardClient(t *testing.T) {
	t.Parallel()
	s := newIdentityServer(t)
	ctx := context.Background()
	config := s.oauth2Config(s.tenantA)
	verifier := oauth2.GenerateVerifier()
	code := s.signIn(t, config, "bob", verifier)

	if _, err := config.Exchange(ctx, code, oauth2.VerifierOption("wrong-"+verifier)); err == nil {
		t.Fatal("a code was exchanged with the wrong PKCE verifier")
	}
	code = s.signIn(t, config, "bob", verifier)
	token, err := config.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal("code exchange:", err)
	}

	// go-oidc verifies both tokens with discovery and the JWKS
	verifier2 := s.provider.Verifier(&goidc.Config{ClientID: s.tenantA.Id})
	idToken, err := verifier2.Verify(ctx, token.Extra("id_token").(string))
	if err != nil || idToken.Subject != s.users["bob"] {
		t.Fatalf("ID token: %v %+v", err, idToken)
	}
	if _, err := verifier2.Verify(ctx, token.AccessToken); err != nil {
		t.Fatal("access token:", err)
	}
	header, payload := claims(t, token.AccessToken)
	if header["alg"] != "RS256" || header["kid"] == "" || payload["iss"] != s.issuer || payload["sub"] != s.users["bob"] ||
		payload["client_id"] != s.tenantA.Id || payload["jti"] == "" || payload["exp"] == nil || payload["iat"] == nil ||
		payload["clr"] != 30.0 || !slices.Equal(toStrings(payload["roles"]), []string{"editor"}) {
		t.Fatalf("access token header %v claims %v", header, payload)
	}
	if aud := toStrings(payload["aud"]); !slices.Equal(aud, []string{s.tenantA.Id}) {
		t.Fatalf("aud %v", payload["aud"])
	}

	// a stranger with the used code (no client secret, no verifier) cannot
	// end the session; the client's own replay revokes what the code gave
	stranger := testsupport.Call(t, "POST", s.issuer+clover.TokenPath, "application/x-www-form-urlencoded",
		strings.NewReader(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {s.redirect}, "client_id": {s.tenantA.Id}}.Encode()))
	if stranger.Status == 200 || s.introspect(t, s.tenantA, token.AccessToken)["active"] != true {
		t.Fatalf("a stranger's replay of a used code: %d %s", stranger.Status, stranger.Raw)
	}
	if _, err := config.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err == nil {
		t.Fatal("a code was exchanged twice")
	}
	if active := s.introspect(t, s.tenantA, token.AccessToken)["active"]; active != false {
		t.Fatal("the access token of a replayed code is still active")
	}
	if _, err := s.refresh(s.tenantA, token.RefreshToken); err == nil {
		t.Fatal("the refresh token of a replayed code still works")
	}
}

// A sign-in's code goes only to the browser that signed in: whoever
// started the sign-in (and so knows its id) cannot fetch it, and a failed
// exchange (no client secret) does not spend it.
func TestTheCodeGoesOnlyToTheBrowserThatSignedIn(t *testing.T) {
	t.Parallel()
	s := newIdentityServer(t)
	config := s.oauth2Config(s.tenantA)
	verifier := oauth2.GenerateVerifier()
	login := location(t, config.AuthCodeURL("attacker-state", oauth2.S256ChallengeOption(verifier)))
	id := login.Query().Get("authRequestID")
	s.openLogin(t, s.browser, login) // the victim opens the attacker's link
	attacker := newBrowser()
	if page := testsupport.CallWith(t, attacker, "GET", login.String(), "", nil); page.Status != 400 {
		t.Fatalf("another browser opening the same sign-in: %d", page.Status)
	}
	if done := completeLoginIn(t, attacker, s.issuer, id, s.tokens["eve"]); done.Status != 400 { // login CSRF
		t.Fatalf("another browser completing the sign-in: %d %s", done.Status, done.Raw)
	}
	if done := s.completeLogin(t, id, s.tokens["bob"]); done.Status != 200 { // the victim signs in
		t.Fatalf("completing: %d %s", done.Status, done.Raw)
	}
	if callback := testsupport.Call(t, "GET", s.issuer+"/authorize/callback?id="+url.QueryEscape(id), "", nil); callback.Status != 404 {
		t.Fatalf("the library's callback: %d %s", callback.Status, callback.Raw)
	}

	code := s.signIn(t, config, "bob", verifier)
	stranger := *config
	stranger.ClientSecret = "wrong"
	if _, err := stranger.Exchange(context.Background(), code, oauth2.VerifierOption(verifier)); err == nil {
		t.Fatal("a code was exchanged with a wrong client secret")
	}
	if _, err := config.Exchange(context.Background(), code, oauth2.VerifierOption(verifier)); err != nil {
		t.Fatal("a failed exchange spent the code:", err)
	}
	if end := testsupport.Call(t, "GET", s.issuer+"/end_session", "", nil); end.Status != 404 {
		t.Fatalf("end_session: %d", end.Status)
	}
}

// Two exchanges of one code at once: whichever wins, the replay revokes
// what it got.
func TestConcurrentExchangesOfACodeLeaveNoLiveToken(t *testing.T) {
	t.Parallel()
	s := newIdentityServer(t)
	config := s.oauth2Config(s.tenantA)
	for round := range 8 {
		verifier := oauth2.GenerateVerifier()
		code := s.signIn(t, config, "bob", verifier)
		tokens := make(chan *oauth2.Token, 2)
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				if token, err := config.Exchange(context.Background(), code, oauth2.VerifierOption(verifier)); err == nil {
					tokens <- token
				}
			})
		}
		wg.Wait()
		close(tokens)
		for token := range tokens {
			if s.introspect(t, s.tenantA, token.AccessToken)["active"] != false {
				t.Fatalf("round %d: a token of a code exchanged twice is active", round)
			}
			if _, err := s.refresh(s.tenantA, token.RefreshToken); err == nil {
				t.Fatalf("round %d: a refresh token of a code exchanged twice works", round)
			}
		}
	}
}

func TestAuthorizeRefusesRequestsWithoutPKCE(t *testing.T) {
	t.Parallel()
	s := newIdentityServer(t)
	config := s.oauth2Config(s.tenantA)
	back := location(t, config.AuthCodeURL("state-1"))
	if !strings.HasPrefix(back.String(), s.redirect+"?") || back.Query().Get("error") != "invalid_request" || back.Query().Get("code") != "" {
		t.Fatalf("/authorize without PKCE sent the browser to %s", back)
	}
}

func TestLoginCompletionChecksTheUser(t *testing.T) {
	t.Parallel()
	s := newIdentityServer(t)
	config := s.oauth2Config(s.tenantA)
	login := location(t, config.AuthCodeURL("state-1", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	id := login.Query().Get("authRequestID")
	s.openLogin(t, s.browser, login)

	if answer := s.completeLogin(t, id, "not-a-token"); answer.Status != 401 {
		t.Fatalf("a bad token: %d %s", answer.Status, answer.Raw)
	}
	if answer := s.completeLogin(t, id, s.tokens["dave"]); answer.Status != 403 { // a member of B only
		t.Fatalf("a user of another tenant: %d %s", answer.Status, answer.Raw)
	}
	if answer := s.completeLogin(t, "no-such-request", s.tokens["bob"]); answer.Status != 400 {
		t.Fatalf("an unknown sign-in: %d %s", answer.Status, answer.Raw)
	}
	if answer := s.completeLogin(t, id, s.tokens["bob"]); answer.Status != 200 {
		t.Fatalf("bob: %d %s", answer.Status, answer.Raw)
	}
	if answer := s.completeLogin(t, id, s.tokens["carol"]); answer.Status != 400 {
		t.Fatalf("a finished sign-in completed again: %d %s", answer.Status, answer.Raw)
	}
}

func TestRefreshRotatesAndReuseRevokesTheFamily(t *testing.T) {
	t.Parallel()
	s := newIdentityServer(t)
	ctx := context.Background()
	config := s.oauth2Config(s.tenantA)
	verifier := oauth2.GenerateVerifier()
	first, err := config.Exchange(ctx, s.signIn(t, config, "bob", verifier), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}

	// a role change shows in the next refreshed token
	s.bobMembership.Set("roles", []string{s.chief.Id})
	if err := s.app.Save(s.bobMembership); err != nil {
		t.Fatal(err)
	}
	second, err := s.refresh(s.tenantA, first.RefreshToken)
	if err != nil {
		t.Fatal("refresh:", err)
	}
	if second.RefreshToken == "" || second.RefreshToken == first.RefreshToken {
		t.Fatal("the refresh token did not rotate")
	}
	if _, payload := claims(t, second.AccessToken); payload["clr"] != 60.0 || !slices.Equal(toStrings(payload["roles"]), []string{"chief"}) {
		t.Fatalf("after the role change: %v", payload)
	}

	// the first refresh token again: the whole family is revoked
	if _, err := s.refresh(s.tenantA, first.RefreshToken); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("a reused refresh token: %v", err)
	}
	for _, token := range []string{first.AccessToken, second.AccessToken} {
		if active := s.introspect(t, s.tenantA, token)["active"]; active != false {
			t.Fatal("an access token of a revoked family is active")
		}
	}
	if _, err := s.refresh(s.tenantA, second.RefreshToken); err == nil {
		t.Fatal("the newest refresh token of a revoked family still works")
	}
}

func TestPasswordGrantIsForFirstPartyTenants(t *testing.T) {
	t.Parallel()
	s := newIdentityServer(t)
	ctx := context.Background()

	token := s.passwordToken(t, s.tenantA, "carol")
	if _, payload := claims(t, token.AccessToken); payload["sub"] != s.users["carol"] || payload["clr"] != 60.0 {
		t.Fatalf("claims %v", payload)
	}
	if token.RefreshToken == "" {
		t.Fatal("no refresh token")
	}
	refreshed, err := s.refresh(s.tenantA, token.RefreshToken)
	if err != nil || refreshed.AccessToken == "" {
		t.Fatalf("refreshing a password grant's token: %v", err)
	}

	for _, c := range []struct {
		name, email, password string
		tenant                *core.Record
		want                  string
	}{
		{"third-party tenant", "dave@example.com", testPassword, s.tenantB, "unauthorized_client"},
		{"wrong password", "carol@example.com", "wrong", s.tenantA, "invalid_grant"},
		{"unknown user", "nobody@example.com", testPassword, s.tenantA, "invalid_grant"},
		{"not a member", "dave@example.com", testPassword, s.tenantA, "invalid_grant"},
	} {
		_, err := s.oauth2Config(c.tenant).PasswordCredentialsToken(ctx, c.email, c.password)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %s", c.name, err, c.want)
		}
	}
	bad := s.oauth2Config(s.tenantA)
	bad.ClientSecret = "wrong"
	if _, err := bad.PasswordCredentialsToken(ctx, "carol@example.com", testPassword); err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Errorf("wrong client secret: %v", err)
	}
}

func TestFirstPartyTenantsExchangePocketBaseTokens(t *testing.T) {
	t.Parallel()
	s := newIdentityServer(t)
	exchange := func(tenant *core.Record, tokenType, token string) testsupport.Answer {
		return s.form(t, tenant, clover.TokenPath, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"},
			"subject_token_type": {tokenType}, "subject_token": {token}, "scope": {"openid"}})
	}
	answer := exchange(s.tenantA, clover.PocketBaseTokenType, s.pocketBaseToken(t, "carol"))
	if answer.Status != 200 || answer.Body["issued_token_type"] != "urn:ietf:params:oauth:token-type:access_token" ||
		answer.Body["refresh_token"] == nil || answer.Body["id_token"] == nil {
		t.Fatalf("exchange: %d %s", answer.Status, answer.Raw)
	}
	if _, payload := claims(t, answer.Body["access_token"].(string)); payload["sub"] != s.users["carol"] || payload["clr"] != 60.0 {
		t.Fatalf("claims %v", payload)
	}
	for _, c := range []struct {
		name, tokenType, token, want string
		tenant                       *core.Record
	}{
		{"third-party tenant", clover.PocketBaseTokenType, s.tokens["dave"], "unauthorized_client", s.tenantB},
		{"not a member", clover.PocketBaseTokenType, s.tokens["dave"], "invalid_grant", s.tenantA},
		{"not a token", clover.PocketBaseTokenType, "forged", "invalid_grant", s.tenantA},
		{"another token type", "urn:ietf:params:oauth:token-type:jwt", s.tokens["bob"], "invalid_request", s.tenantA},
	} {
		if answer := exchange(c.tenant, c.tokenType, c.token); answer.Status < 400 || answer.Body["error"] != c.want {
			t.Errorf("%s: %d %s, want %s", c.name, answer.Status, answer.Raw, c.want)
		}
	}
}

// The password grant signs in as PocketBase's own endpoint does: the users
// collection's auth rule applies.
func TestPasswordGrantKeepsTheAuthRule(t *testing.T) {
	t.Parallel()
	s := newIdentityServer(t)
	testsupport.UpdateCollection(t, s.app, "users", func(users *core.Collection) {
		users.AuthRule = types.Pointer("verified = true")
	})
	_, err := s.oauth2Config(s.tenantA).PasswordCredentialsToken(context.Background(), "bob@example.com", testPassword)
	if err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("an unverified user under `verified = true`: %v", err)
	}
	bob, err := s.app.FindRecordById("users", s.users["bob"])
	if err != nil {
		t.Fatal(err)
	}
	bob.SetVerified(true)
	if err := s.app.Save(bob); err != nil {
		t.Fatal(err)
	}
	s.passwordToken(t, s.tenantA, "bob")

	// joining an existing user through signup checks the same way
	join := testsupport.CallJSON(t, "POST", s.issuer+clover.SignupPath, `{"email": "dave@example.com", "password": "`+testPassword+`"}`,
		"Authorization", basicAuth(s.tenantA.Id, s.secrets[s.tenantA.Id]))
	if join.Status != 400 {
		t.Fatalf("an unverified user joined through signup under `verified = true`: %d %s", join.Status, join.Raw)
	}
}

// A password change ends the user's token families, as it ends their
// PocketBase sessions.
func TestAPasswordChangeEndsRefreshTokens(t *testing.T) {
	t.Parallel()
	s := newIdentityServer(t)
	token := s.passwordToken(t, s.tenantA, "bob")
	config := s.oauth2Config(s.tenantA)
	verifier := oauth2.GenerateVerifier()
	code := s.signIn(t, config, "bob", verifier) // a code of a sign-in before the change
	bob, err := s.app.FindRecordById("users", s.users["bob"])
	if err != nil {
		t.Fatal(err)
	}
	bob.SetPassword("a-new-password-2")
	if err := s.app.Save(bob); err != nil {
		t.Fatal(err)
	}
	if _, err := s.refresh(s.tenantA, token.RefreshToken); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("a refresh token after a password change: %v", err)
	}
	if s.introspect(t, s.tenantA, token.AccessToken)["active"] != false {
		t.Fatal("the family's access token is still active")
	}
	if _, err := config.Exchange(context.Background(), code, oauth2.VerifierOption(verifier)); err == nil {
		t.Fatal("a code signed in before a password change was exchanged after it")
	}
}

// A superuser sets a tenant's client secret from the admin UI (the hidden
// client_secret field; PocketBase ignores hidden fields in others' bodies).
func TestClientSecretsFromTheAdminUI(t *testing.T) {
	t.Parallel()
	s := newIdentityServer(t)
	_, superuser := testsupport.NewAuthRecord(t, s.app, core.CollectionNameSuperusers, "root@example.com")
	const secret = "a-secret-chosen-in-the-admin-ui-0123456789"
	created := testsupport.CallJSON(t, "POST", s.server.URL+"/api/collections/tenants/records",
		`{"name": "Made in the UI", "client_secret": "`+secret+`"}`, "Authorization", superuser)
	if created.Status != 200 || strings.Contains(string(created.Raw), secret) || strings.Contains(string(created.Raw), "$2a$") {
		t.Fatalf("create: %d %s", created.Status, created.Raw)
	}
	id := created.Body["id"].(string)
	const batched = "a-secret-set-through-the-batch-api-0123456789"
	batch := testsupport.CallJSON(t, "POST", s.server.URL+"/api/batch",
		`{"requests": [{"method": "PATCH", "url": "/api/collections/tenants/records/`+id+`", "body": {"client_secret": "`+batched+`"}}]}`, "Authorization", superuser)
	if batch.Status != 200 || strings.Contains(string(batch.Raw), batched) {
		t.Fatalf("batch: %d %s", batch.Status, batch.Raw)
	}
	if _, err := clover.AuthenticateClient(s.app, id, batched); err != nil {
		t.Fatal("the secret set through the batch API does not authenticate:", err)
	}
	if _, err := clover.AuthenticateClient(s.app, id, secret); err == nil {
		t.Fatal("the replaced secret still authenticates")
	}
	if short := testsupport.CallJSON(t, "PATCH", s.server.URL+"/api/collections/tenants/records/"+id, `{"client_secret": "short"}`,
		"Authorization", superuser); short.Status != 400 || short.Object("data")[clover.ClientSecretField] == nil {
		t.Fatalf("a short secret: %d %s", short.Status, short.Raw)
	}
	const next = "the-tenant-admins-next-secret-0123456789"
	testsupport.CallJSON(t, "PATCH", s.server.URL+"/api/collections/tenants/records/"+s.tenantA.Id, `{"client_secret": "not-from-an-admin-of-the-tenant-0123"}`,
		"Authorization", s.tokens["alice"])
	if changed := testsupport.CallJSON(t, "PATCH", s.server.URL+"/api/collections/tenants/records/"+s.tenantA.Id, `{"client_secret": "`+next+`"}`,
		"Authorization", superuser); changed.Status != 200 {
		t.Fatalf("a superuser sets a secret: %d %s", changed.Status, changed.Raw)
	}
	if _, err := clover.AuthenticateClient(s.app, s.tenantA.Id, next); err != nil {
		t.Fatal("the new secret does not authenticate:", err)
	}
	for _, old := range []string{s.secrets[s.tenantA.Id], "not-from-an-admin-of-the-tenant-0123"} {
		if _, err := clover.AuthenticateClient(s.app, s.tenantA.Id, old); err == nil {
			t.Fatalf("%q authenticates", old)
		}
	}
}

func TestClientCredentialsAreTheTenantsOwn(t *testing.T) {
	t.Parallel()
	s := newIdentityServer(t)
	ctx := context.Background()
	config := clientcredentials.Config{ClientID: s.tenantB.Id, ClientSecret: s.secrets[s.tenantB.Id],
		TokenURL: s.provider.Endpoint().TokenURL, AuthStyle: oauth2.AuthStyleInHeader}
	token, err := config.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, payload := claims(t, token.AccessToken); payload["sub"] != s.tenantB.Id || payload["roles"] != nil || payload["client_id"] != s.tenantB.Id {
		t.Fatalf("claims %v", payload)
	}
	if token.RefreshToken != "" {
		t.Fatal("client credentials gave a refresh token")
	}
	config.ClientSecret = s.secrets[s.tenantA.Id]
	if _, err := config.Token(ctx); err == nil {
		t.Fatal("another tenant's secret was accepted")
	}
}

func TestIntrospectionRevocationAndUserinfo(t *testing.T) {
	t.Parallel()
	s := newIdentityServer(t)
	token := s.passwordToken(t, s.tenantA, "bob")

	answer := s.introspect(t, s.tenantA, token.AccessToken)
	if answer["active"] != true || answer["sub"] != s.users["bob"] || answer["client_id"] != s.tenantA.Id || answer["clr"] != 30.0 {
		t.Fatalf("introspection: %v", answer)
	}
	if other := s.introspect(t, s.tenantB, token.AccessToken); other["active"] != false || len(other) != 1 {
		t.Fatalf("another tenant introspecting: %v", other)
	}
	userinfo := testsupport.CallJSON(t, "GET", s.provider.UserInfoEndpoint(), "", "Authorization", "Bearer "+token.AccessToken)
	if userinfo.Status != 200 || userinfo.Body["sub"] != s.users["bob"] {
		t.Fatalf("userinfo: %d %s", userinfo.Status, userinfo.Raw)
	}

	if answer := s.form(t, s.tenantB, "/revoke", url.Values{"token": {token.AccessToken}}); answer.Status == 200 {
		t.Fatal("another tenant revoked the token")
	}
	if answer := s.form(t, s.tenantA, "/revoke", url.Values{"token": {token.AccessToken}}); answer.Status != 200 {
		t.Fatalf("revocation: %d %s", answer.Status, answer.Raw)
	}
	if answer := s.introspect(t, s.tenantA, token.AccessToken); answer["active"] != false {
		t.Fatalf("a revoked token: %v", answer)
	}
	_, payload := claims(t, token.AccessToken)
	for tenant, want := range map[*core.Record]int{s.tenantA: 1, s.tenantB: 0} {
		list := testsupport.CallJSON(t, "GET", s.issuer+clover.RevokedPath, "", "Authorization", basicAuth(tenant.Id, s.secrets[tenant.Id]))
		revoked, _ := list.Body["revoked"].([]any)
		if list.Status != 200 || len(revoked) != want || (want == 1 && revoked[0].(map[string]any)["jti"] != payload["jti"]) {
			t.Fatalf("the revoked list of %s: %d %s", tenant.GetString("name"), list.Status, list.Raw)
		}
	}
	if userinfo := testsupport.CallJSON(t, "GET", s.provider.UserInfoEndpoint(), "", "Authorization", "Bearer "+token.AccessToken); userinfo.Status == 200 {
		t.Fatalf("userinfo with a revoked token: %s", userinfo.Raw)
	}

	// another tenant cannot revoke the refresh token
	if answer := s.form(t, s.tenantB, "/revoke", url.Values{"token": {token.RefreshToken}, "token_type_hint": {"refresh_token"}}); answer.Status == 200 {
		t.Fatalf("another tenant revoked the refresh token %q: %s", token.RefreshToken, answer.Raw)
	}
	// revoking a refresh token revokes its family
	if answer := s.form(t, s.tenantA, "/revoke", url.Values{"token": {token.RefreshToken}, "token_type_hint": {"refresh_token"}}); answer.Status != 200 {
		t.Fatalf("revoking the refresh token: %d %s", answer.Status, answer.Raw)
	}
	if _, err := s.refresh(s.tenantA, token.RefreshToken); err == nil {
		t.Fatal("a revoked refresh token still works")
	}
}

func TestRotatedKeysVerifyTheirTokensUntilTheyExpire(t *testing.T) {
	t.Parallel()
	s := newIdentityServer(t)
	ctx := context.Background()
	before := s.passwordToken(t, s.tenantA, "bob")
	if _, published, err := clover.RotateKeys(s.app); err != nil || published != 2 {
		t.Fatal(published, err)
	}
	after := s.passwordToken(t, s.tenantA, "bob")
	oldHeader, _ := claims(t, before.AccessToken)
	newHeader, _ := claims(t, after.AccessToken)
	if oldHeader["kid"] == newHeader["kid"] {
		t.Fatal("the rotation did not change the signing key")
	}
	verifier := s.provider.Verifier(&goidc.Config{ClientID: s.tenantA.Id})
	for _, token := range []string{before.AccessToken, after.AccessToken} {
		if _, err := verifier.Verify(ctx, token); err != nil {
			t.Fatal("a token does not verify after the rotation:", err)
		}
	}
}

func TestSignupJoinsTheCallingTenant(t *testing.T) {
	t.Parallel()
	s := newIdentityServer(t)
	signup := func(tenant *core.Record, secret, body string) testsupport.Answer {
		return testsupport.CallJSON(t, "POST", s.issuer+clover.SignupPath, body, "Authorization", basicAuth(tenant.Id, secret))
	}
	answer := signup(s.tenantA, s.secrets[s.tenantA.Id], `{"email": "frank@example.com", "password": "frank-password-1", "passwordConfirm": "frank-password-1"}`)
	if answer.Status != 201 || answer.Body["email"] != "frank@example.com" || answer.Body["password"] != nil || answer.Body["tokenKey"] != nil {
		t.Fatalf("signup: %d %s", answer.Status, answer.Raw)
	}
	frank := answer.Body["id"].(string)
	if _, ok, _ := clover.FindMembership(s.app, s.tenantA.Id, frank); !ok {
		t.Fatal("the new user is not a member of the tenant")
	}

	// an existing user joins a first-party tenant with their password, not
	// without; a third-party tenant cannot try passwords
	if answer := signup(s.tenantB, s.secrets[s.tenantB.Id], `{"email": "dave@example.com", "password": "`+testPassword+`"}`); answer.Status != 400 {
		t.Fatalf("a third-party tenant joining an existing user: %d %s", answer.Status, answer.Raw)
	}
	if answer := signup(s.tenantA, s.secrets[s.tenantA.Id], `{"email": "dave@example.com", "password": "wrong-password-1"}`); answer.Status != 400 {
		t.Fatalf("joining with a wrong password: %d %s", answer.Status, answer.Raw)
	}
	if answer := signup(s.tenantA, s.secrets[s.tenantA.Id], `{"email": "dave@example.com", "password": "`+testPassword+`"}`); answer.Status != 200 {
		t.Fatalf("joining: %d %s", answer.Status, answer.Raw)
	}
	if _, ok, _ := clover.FindMembership(s.app, s.tenantA.Id, s.users["dave"]); !ok {
		t.Fatal("dave did not join tenant A")
	}
	if answer := signup(s.tenantA, "wrong", `{"email": "gina@example.com", "password": "gina-password-1", "passwordConfirm": "gina-password-1"}`); answer.Status != 401 {
		t.Fatalf("a wrong client secret: %d %s", answer.Status, answer.Raw)
	}
	if answer := signup(s.tenantA, s.secrets[s.tenantA.Id], `{"email": "not-an-email", "password": "x", "passwordConfirm": "x"}`); answer.Status != 400 || answer.Object("data")["email"] == nil {
		t.Fatalf("a bad email: %d %s", answer.Status, answer.Raw)
	}
}

func TestTenantAnswersItsRoles(t *testing.T) {
	t.Parallel()
	s := newIdentityServer(t)
	auth := basicAuth(s.tenantA.Id, s.secrets[s.tenantA.Id])

	answer := testsupport.CallJSON(t, "GET", s.issuer+"/tenants/"+s.tenantA.Id, "", "Authorization", auth)
	var tenant struct {
		ID    string `json:"id"`
		Roles []struct {
			Name          string `json:"name"`
			SecurityLevel int    `json:"security_level"`
		} `json:"roles"`
	}
	answer.Decode(t, &tenant)
	levels := map[string]int{}
	for _, role := range tenant.Roles {
		levels[role.Name] = role.SecurityLevel
	}
	if answer.Status != 200 || tenant.ID != s.tenantA.Id || len(levels) != 2 || levels["editor"] != 30 || levels["chief"] != 60 {
		t.Fatalf("tenant: %d %s", answer.Status, answer.Raw)
	}
	if answer := testsupport.CallJSON(t, "GET", s.issuer+"/tenants/"+s.tenantB.Id, "", "Authorization", auth); answer.Status != 403 {
		t.Fatalf("another tenant: %d %s", answer.Status, answer.Raw)
	}
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, item := range list {
		s, _ := item.(string)
		out = append(out, s)
	}
	return out
}
