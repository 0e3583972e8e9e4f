package clover_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/pocketbase/pocketbase/core"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/postr-inc/hapta/internal/testsupport"
	"github.com/postr-inc/hapta/plugins/clover"
	"github.com/postr-inc/hapta/plugins/clover/internal/signing"
	"github.com/postr-inc/hapta/plugins/hapta"
	"github.com/postr-inc/hapta/routes/auth"
)

// cloverClient is a Hapta application logging its users in against the
// identity server of s, as tenant A (first-party), over loopback HTTP.
type cloverClient struct {
	app    core.App
	server *httptest.Server
}

// pollEvery is how often the test clients read the revoked token ids.
const pollEvery = 100 * time.Millisecond

func newCloverClient(t *testing.T, serverURL, tenantID, secret string) *cloverClient {
	t.Helper()
	config := `{"Clover_Tenant_ID": "` + tenantID + `", "Clover_Secret": "` + secret + `", "Clover_Server_Url": "` + serverURL + `"}`
	app := testsupport.NewApp(t, func(app core.App) {
		hapta.MustRegister(app, nil, hapta.Config{ConfigFile: testsupport.WriteFile(t, "hapta-config.json", config), CloverPollEvery: pollEvery})
		app.OnServe().BindFunc(func(se *core.ServeEvent) error {
			auth.Register(se)
			hapta.Handle(se, "GET /api/whoami", func(ctx *hapta.Context, _ struct{}) error {
				return ctx.JSON(http.StatusOK, ctx.Principal)
			}, hapta.RequireAuth())
			return se.Next()
		})
	})
	server, err := testsupport.Serve(t, app)
	if err != nil {
		t.Fatal(err)
	}
	return &cloverClient{app: app, server: server}
}

// client is a client of s that has reached it.
func (s *identityServer) client(t *testing.T) *cloverClient {
	t.Helper()
	c := newCloverClient(t, s.server.URL, s.tenantA.Id, s.secrets[s.tenantA.Id])
	c.ready(t)
	return c
}

// bobLogin is bob's password login body for POST /auth.
const bobLogin = `{"emailOrUsername": "bob@example.com", "password": "` + testPassword + `"}`

// loginBob logs bob in through the client.
func (c *cloverClient) loginBob(t *testing.T) testsupport.Answer {
	t.Helper()
	answer := c.login(t, "type=password", bobLogin)
	if answer.Status != 200 {
		t.Fatalf("bob's login: %d %s", answer.Status, answer.Raw)
	}
	return answer
}

// login posts to the client's POST /auth.
func (c *cloverClient) login(t *testing.T, query, body string) testsupport.Answer {
	t.Helper()
	return testsupport.CallJSON(t, "POST", c.server.URL+"/auth?"+query, body)
}

// whoami is the principal the client sees for a bearer token.
func (c *cloverClient) whoami(t *testing.T, token string) testsupport.Answer {
	t.Helper()
	return testsupport.CallJSON(t, "GET", c.server.URL+"/api/whoami", "", "Authorization", "Bearer "+token)
}

// ready waits until the client has discovered the server.
func (c *cloverClient) ready(t *testing.T) {
	t.Helper()
	testsupport.Eventually(t, "the client reaches the server", func() bool {
		data := testsupport.CallJSON(t, "GET", c.server.URL+"/api/health", "").Object("data")
		return data["clover"] == "ok"
	})
}

func TestClientLogsInThroughCloverWithAPassword(t *testing.T) {
	t.Parallel()
	s := newIdentityServer(t)
	c := s.client(t)

	answer := c.login(t, "type=password", bobLogin)
	if answer.Status != 200 || answer.Body["record"] != nil || answer.Body["refreshToken"] == nil {
		t.Fatalf("login: %d %s", answer.Status, answer.Raw)
	}
	principal := answer.Object("principal")
	if principal["strategy"] != hapta.StrategyClover || principal["tenantId"] != s.tenantA.Id || principal["highestClearance"] != 30.0 ||
		principal["email"] != "bob@example.com" || principal["collection"] != hapta.CloverUsersCollection {
		t.Fatalf("principal: %v", principal)
	}
	token := answer.Body["token"].(string)
	if _, payload := claims(t, token); payload["iss"] != s.issuer || payload["sub"] != s.users["bob"] {
		t.Fatalf("not a Clover token: %v", payload)
	}

	// the Clover token works on hapta routes and on PocketBase's API
	me := c.whoami(t, token)
	if me.Status != 200 || me.Body["tenantId"] != s.tenantA.Id || me.Body["highestClearance"] != 30.0 {
		t.Fatalf("whoami: %d %s", me.Status, me.Raw)
	}
	mirror := testsupport.CallJSON(t, "GET", c.server.URL+"/api/collections/"+hapta.CloverUsersCollection+"/records", "", "Authorization", token)
	if items, _ := mirror.Body["items"].([]any); mirror.Status != 200 || len(items) != 1 || items[0].(map[string]any)["clover_sub"] != s.users["bob"] {
		t.Fatalf("PocketBase's API with the Clover token: %d %s", mirror.Status, mirror.Raw)
	}

	// through Clover, only the server's users sign in: not _superusers, by name or by id
	superusers, err := s.app.FindCollectionByNameOrId(core.CollectionNameSuperusers)
	if err != nil {
		t.Fatal(err)
	}
	for _, collection := range []string{core.CollectionNameSuperusers, superusers.Id} {
		if answer := c.login(t, "type=password&collection="+collection, bobLogin); answer.Status != 400 {
			t.Fatalf("a Clover login into %s: %d %s", collection, answer.Status, answer.Raw)
		}
	}

	// a mirror that lost its email to an older one still signs in
	stale := testsupport.SaveRecord(t, c.app, hapta.CloverUsersCollection, map[string]any{"clover_sub": "an-older-subject", "email": "carol@example.com", "password": "unused-password-1"})
	if answer := c.login(t, "type=password", `{"emailOrUsername": "carol@example.com", "password": "`+testPassword+`"}`); answer.Status != 200 ||
		answer.Object("principal")["id"] == stale.Id {
		t.Fatalf("a login whose email another mirror holds: %d %s", answer.Status, answer.Raw)
	}

	// a wrong password is the server's answer, and Direct still uses the local users
	if answer := c.login(t, "type=password", `{"emailOrUsername": "bob@example.com", "password": "wrong-password"}`); answer.Status != 400 {
		t.Fatalf("a wrong password: %d %s", answer.Status, answer.Raw)
	}
	testsupport.NewAuthRecord(t, c.app, "users", "local@example.com")
	if answer := c.login(t, "type=password&via=pocketbase", `{"emailOrUsername": "local@example.com", "password": "`+testPassword+`"}`); answer.Status != 200 ||
		answer.Object("principal")["strategy"] != hapta.StrategyPassword {
		t.Fatalf("a direct login: %d %s", answer.Status, answer.Raw)
	}
}

func TestClientLogsInThroughCloverWithOTPAndMFA(t *testing.T) {
	t.Parallel()
	s := newIdentityServer(t)
	mails := s.requireMFA(t)
	c := s.client(t)

	first := c.login(t, "type=password", `{"emailOrUsername": "carol@example.com", "password": "`+testPassword+`"}`)
	mfaID, _ := first.Body["mfaId"].(string)
	if first.Status != 401 || mfaID == "" {
		t.Fatalf("first factor: %d %s", first.Status, first.Raw)
	}
	sent := mails.Count()
	otp := c.login(t, "type=otp", `{"email": "carol@example.com"}`)
	if otp.Status != 200 || otp.Body["otpId"] == nil {
		t.Fatalf("requesting the code: %d %s", otp.Status, otp.Raw)
	}
	code := mails.OTPCode(t, sent)
	second := c.login(t, "type=mfa", `{"mfaId": "`+mfaID+`", "otpId": "`+otp.Body["otpId"].(string)+`", "code": "`+code+`"}`)
	if second.Status != 200 || second.Object("principal")["highestClearance"] != 60.0 {
		t.Fatalf("second factor: %d %s", second.Status, second.Raw)
	}
	if _, payload := claims(t, second.Body["token"].(string)); payload["sub"] != s.users["carol"] {
		t.Fatalf("claims %v", payload)
	}
}

func TestClientSeesRoleChangesAfterARefresh(t *testing.T) {
	t.Parallel()
	s := newIdentityServer(t)
	c := s.client(t)
	login := c.loginBob(t)

	s.bobMembership.Set("roles", []string{s.editor.Id, s.chief.Id})
	if err := s.app.Save(s.bobMembership); err != nil {
		t.Fatal(err)
	}
	refreshed := c.login(t, "type=refresh", `{"refreshToken": "`+login.Body["refreshToken"].(string)+`"}`)
	if refreshed.Status != 200 || refreshed.Object("principal")["highestClearance"] != 60.0 {
		t.Fatalf("refresh: %d %s", refreshed.Status, refreshed.Raw)
	}
	if me := c.whoami(t, refreshed.Body["token"].(string)); me.Body["highestClearance"] != 60.0 || len(toStrings(me.Body["roles"])) != 2 {
		t.Fatalf("whoami after the refresh: %s", me.Raw)
	}

	// the old refresh token again: its family is revoked, on the server and, after a poll, here
	if again := c.login(t, "type=refresh", `{"refreshToken": "`+login.Body["refreshToken"].(string)+`"}`); again.Status != 401 {
		t.Fatalf("a reused refresh token: %d %s", again.Status, again.Raw)
	}
	testsupport.Eventually(t, "the revoked family's token is refused", func() bool {
		return c.whoami(t, refreshed.Body["token"].(string)).Status == 401
	})
}

func TestClientRefusesRevokedTokens(t *testing.T) {
	t.Parallel()
	s := newIdentityServer(t)
	c := s.client(t)
	loginBob := func() string { return c.loginBob(t).Body["token"].(string) }

	// a logout through the client is refused at once
	token := loginBob()
	if answer := c.login(t, "type=logout", `{"token": "`+token+`"}`); answer.Status != 204 {
		t.Fatalf("logout: %d %s", answer.Status, answer.Raw)
	}
	if me := c.whoami(t, token); me.Status != 401 {
		t.Fatalf("a token revoked here: %d", me.Status)
	}

	// a revocation on the server is refused after the next poll
	token = loginBob()
	if me := c.whoami(t, token); me.Status != 200 {
		t.Fatalf("whoami: %d %s", me.Status, me.Raw)
	}
	if answer := s.form(t, s.tenantA, "/revoke", map[string][]string{"token": {token}}); answer.Status != 200 {
		t.Fatalf("revocation on the server: %d %s", answer.Status, answer.Raw)
	}
	testsupport.Eventually(t, "a token revoked on the server is refused", func() bool { return c.whoami(t, token).Status == 401 })
}

func TestCloverLoginsNeedClover(t *testing.T) {
	t.Parallel()
	app := testsupport.NewApp(t, func(app core.App) {
		hapta.MustRegister(app, nil, hapta.Config{ConfigFile: testsupport.WriteFile(t, "hapta-config.json", `{}`)})
		app.OnServe().BindFunc(func(se *core.ServeEvent) error {
			auth.Register(se)
			return se.Next()
		})
	})
	server, err := testsupport.Serve(t, app)
	if err != nil {
		t.Fatal(err)
	}
	testsupport.NewAuthRecord(t, app, "users", "local@example.com")
	body := `{"emailOrUsername": "local@example.com", "password": "` + testPassword + `"}`
	if answer := testsupport.CallJSON(t, "POST", server.URL+"/auth?type=password&via=clover", body); answer.Status != 400 ||
		!strings.Contains(answer.Body["message"].(string), "Clover is not configured") {
		t.Fatalf("an explicit Clover login without Clover: %d %s", answer.Status, answer.Raw)
	}
	if answer := testsupport.CallJSON(t, "POST", server.URL+"/auth?type=refresh", `{"refreshToken": "x"}`); answer.Status != 400 {
		t.Fatalf("a Clover refresh without Clover: %d %s", answer.Status, answer.Raw)
	}
	if answer := testsupport.CallJSON(t, "POST", server.URL+"/auth?type=password", body); answer.Status != 200 {
		t.Fatalf("a login without Clover: %d %s", answer.Status, answer.Raw)
	}
	if data := testsupport.CallJSON(t, "GET", server.URL+"/api/health", "").Object("data"); data["clover"] != nil {
		t.Fatalf("health without Clover: %v", data)
	}
}

// sign makes a JWT of payload with header fields, signed by key with alg
// (nil key: no signature, as alg "none" has).
func sign(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, payload map[string]any) string {
	t.Helper()
	body, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	if key == nil {
		header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"` + kid + `"}`))
		return header + "." + base64.RawURLEncoding.EncodeToString(body) + "."
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", kid).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	signed, err := signer.Sign(body)
	if err != nil {
		t.Fatal(err)
	}
	token, err := signed.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func TestClientRefusesForgedTokens(t *testing.T) {
	t.Parallel()
	s := newIdentityServer(t)
	c := s.client(t)
	genuine := c.loginBob(t).Body["token"].(string)
	if me := c.whoami(t, genuine); me.Status != 200 {
		t.Fatalf("the genuine token: %d %s", me.Status, me.Raw)
	}
	header, payload := claims(t, genuine)
	kid := header["kid"].(string)
	keys, err := signing.Open(s.app, clover.SignedTokenLifetime)
	if err != nil {
		t.Fatal(err)
	}
	active, err := keys.Active()
	if err != nil || active.ID != kid {
		t.Fatalf("the active key %v is not the token's %s: %v", active, kid, err)
	}
	with := func(changes map[string]any) map[string]any {
		forged := map[string]any{}
		for name, value := range payload {
			forged[name] = value
		}
		for name, value := range changes {
			if value == nil {
				delete(forged, name)
			} else {
				forged[name] = value
			}
		}
		return forged
	}
	stranger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	publicPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&active.Private.PublicKey)})
	tenantToken := func(tenant *core.Record) string { // the tenant's own genuine token (client credentials)
		token, err := (&clientcredentials.Config{ClientID: tenant.Id, ClientSecret: s.secrets[tenant.Id],
			TokenURL: s.provider.Endpoint().TokenURL, AuthStyle: oauth2.AuthStyleInHeader}).Token(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return token.AccessToken
	}
	otherTenant := tenantToken(s.tenantB)
	if answer := c.login(t, "type=logout", `{"token": "`+otherTenant+`"}`); answer.Status != 400 {
		t.Fatalf("logging out another tenant's token: %d %s", answer.Status, answer.Raw)
	}
	revoked := c.loginBob(t).Body["token"].(string)
	if answer := c.login(t, "type=logout", `{"token": "`+revoked+`"}`); answer.Status != 204 {
		t.Fatalf("logout: %d %s", answer.Status, answer.Raw)
	}
	hour := time.Hour.Seconds()

	for name, token := range map[string]string{
		"alg none":                     sign(t, "none", nil, kid, with(nil)),
		"HS256 with the public key":    sign(t, jose.HS256, publicPEM, kid, with(nil)),
		"a wrong aud":                  sign(t, jose.RS256, active.Private, kid, with(map[string]any{"aud": []string{"someone-else"}})),
		"a wrong iss":                  sign(t, jose.RS256, active.Private, kid, with(map[string]any{"iss": "http://127.0.0.1:1/clover/v1"})),
		"expired":                      sign(t, jose.RS256, active.Private, kid, with(map[string]any{"exp": payload["iat"].(float64) - hour, "iat": payload["iat"].(float64) - 2*hour})),
		"an unknown kid":               sign(t, jose.RS256, stranger, "no-such-key", with(nil)),
		"a stranger's key, known kid":  sign(t, jose.RS256, stranger, kid, with(nil)),
		"another tenant's client_id":   sign(t, jose.RS256, active.Private, kid, with(map[string]any{"client_id": s.tenantB.Id})),
		"no jti (an ID token's shape)": sign(t, jose.RS256, active.Private, kid, with(map[string]any{"jti": nil})),
		"a token of another tenant":    otherTenant,
		"the tenant's own token":       tenantToken(s.tenantA),
		"a revoked jti":                revoked,
	} {
		if me := c.whoami(t, token); me.Status != 401 {
			t.Errorf("%s: %d %s", name, me.Status, me.Raw)
		}
	}
}

// proxy stands between a client and its server, so that the test can take
// the server away and bring it back at the same address.
type proxy struct {
	addr, target string
	server       *http.Server
}

func (p *proxy) up(t *testing.T) {
	t.Helper()
	listener, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	target, _ := url.Parse(p.target)
	p.server = &http.Server{Handler: httputil.NewSingleHostReverseProxy(target)}
	go p.server.Serve(listener)
	t.Cleanup(func() { p.server.Close() })
}

func (p *proxy) down() { p.server.Close() }

func TestClientServesWithoutItsServerAndRecovers(t *testing.T) {
	t.Parallel()
	reserved, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := reserved.Addr().String()
	reserved.Close()
	s := newIdentityServerAt(t, "http://"+addr) // the server's public URL is the proxy's
	p := &proxy{addr: addr, target: s.server.URL}

	c := newCloverClient(t, "http://"+p.addr, s.tenantA.Id, s.secrets[s.tenantA.Id]) // starts with no server
	health := func() any {
		return testsupport.CallJSON(t, "GET", c.server.URL+"/api/health", "").Object("data")["clover"]
	}
	if got := health(); got != "degraded" {
		t.Fatalf("health with no server: %v", got)
	}
	if answer := c.login(t, "type=password", bobLogin); answer.Status != 503 {
		t.Fatalf("a Clover login with no server: %d %s", answer.Status, answer.Raw)
	}
	testsupport.NewAuthRecord(t, c.app, "users", "local@example.com")
	if answer := c.login(t, "type=password&via=pocketbase", `{"emailOrUsername": "local@example.com", "password": "`+testPassword+`"}`); answer.Status != 200 {
		t.Fatalf("a direct login with no server: %d %s", answer.Status, answer.Raw)
	}

	p.up(t)
	testsupport.Eventually(t, "the client finds its server", func() bool { return health() == "ok" })
	login := c.login(t, "type=password", bobLogin)
	if login.Status != 200 {
		t.Fatalf("a Clover login once the server answers: %d %s", login.Status, login.Raw)
	}

	p.down()
	if answer := c.login(t, "type=password", bobLogin); answer.Status != 503 {
		t.Fatalf("a Clover login after the server went away: %d %s", answer.Status, answer.Raw)
	}
	if got := health(); got != "degraded" {
		t.Fatalf("health after the server went away: %v", got)
	}
	if me := c.whoami(t, login.Body["token"].(string)); me.Status != 200 { // verified offline
		t.Fatalf("a Clover token while the server is away: %d %s", me.Status, me.Raw)
	}

	p.up(t)
	testsupport.Eventually(t, "the client finds its server again", func() bool { return c.login(t, "type=password", bobLogin).Status == 200 })
	testsupport.Eventually(t, "health recovers", func() bool { return health() == "ok" })
}

func TestClientFollowsKeyRotation(t *testing.T) {
	t.Parallel()
	s := newIdentityServer(t)
	c := s.client(t)
	before := c.login(t, "type=password", bobLogin)
	if before.Status != 200 || c.whoami(t, before.Body["token"].(string)).Status != 200 {
		t.Fatalf("login: %d %s", before.Status, before.Raw)
	}
	if _, _, err := clover.RotateKeys(s.app); err != nil {
		t.Fatal(err)
	}
	after := c.login(t, "type=password", bobLogin) // signed with a key the client has not read yet
	if after.Status != 200 {
		t.Fatalf("login after the rotation: %d %s", after.Status, after.Raw)
	}
	oldHeader, _ := claims(t, before.Body["token"].(string))
	newHeader, _ := claims(t, after.Body["token"].(string))
	if oldHeader["kid"] == newHeader["kid"] {
		t.Fatal("the server did not sign with the new key")
	}
	for _, token := range []string{before.Body["token"].(string), after.Body["token"].(string)} {
		if me := c.whoami(t, token); me.Status != 200 {
			t.Fatalf("a token after the rotation: %d %s", me.Status, me.Raw)
		}
	}
}

// A wrong secret is the operator's problem: the client reports Clover as
// degraded and its Clover logins answer 503.
func TestClientWithAWrongSecret(t *testing.T) {
	t.Parallel()
	s := newIdentityServer(t)
	c := newCloverClient(t, s.server.URL, s.tenantA.Id, "cs_wrong-secret")
	time.Sleep(3 * pollEvery)
	if data := testsupport.CallJSON(t, "GET", c.server.URL+"/api/health", "").Object("data"); data["clover"] != "degraded" {
		t.Fatalf("health with a wrong secret: %v", data)
	}
	if answer := c.login(t, "type=password", bobLogin); answer.Status != 503 {
		t.Fatalf("a login with a wrong secret: %d %s", answer.Status, answer.Raw)
	}
}

// OAuth2 through the client: /auth?type=oauth carries the flow to the
// server's providers (here another Clover server) and ends with Clover
// tokens of the server's user linked by email.
func TestClientLogsInThroughCloverWithOAuth2(t *testing.T) {
	t.Parallel()
	s := newIdentityServer(t)
	c := s.client(t)
	redirect := c.server.URL + "/oauth2-done" // the application's page the provider returns to
	upstream := s.signInThroughUpstream(t, redirect)

	start := c.login(t, "type=oauth", `{"provider": "oidc", "redirectUrl": "`+redirect+`"}`)
	if start.Status != 200 {
		t.Fatalf("start: %d %s", start.Status, start.Raw)
	}
	login := location(t, start.Body["authUrl"].(string)) // the upstream's login page
	upstream.openLogin(t, upstream.browser, login)
	done := upstream.completeLogin(t, login.Query().Get("authRequestID"), upstream.tokens["bob"])
	back, err := url.Parse(done.Body["redirect"].(string))
	if done.Status != 200 || err != nil || !strings.HasPrefix(back.String(), redirect+"?") {
		t.Fatalf("upstream sign-in: %d %s", done.Status, done.Raw)
	}
	answer := c.login(t, "type=oauth", `{"provider": "oidc", "redirectUrl": "`+redirect+`", "code": "`+back.Query().Get("code")+`", "state": "`+back.Query().Get("state")+`"}`)
	if answer.Status != 200 || answer.Object("principal")["tenantId"] != s.tenantA.Id || answer.Object("principal")["email"] != "bob@example.com" {
		t.Fatalf("OAuth2 through Clover: %d %s", answer.Status, answer.Raw)
	}
	if _, payload := claims(t, answer.Body["token"].(string)); payload["sub"] != s.users["bob"] || payload["iss"] != s.issuer {
		t.Fatalf("claims %v", payload)
	}
}
