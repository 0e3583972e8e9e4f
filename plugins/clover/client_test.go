package clover_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/internal/testsupport"
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

func (s *identityServer) client(t *testing.T) *cloverClient {
	t.Helper()
	return newCloverClient(t, s.server.URL, s.tenantA.Id, s.secrets[s.tenantA.Id])
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

// eventually retries check until it passes or time runs out.
func eventually(t *testing.T, what string, check func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !check(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting until " + what)
		}
	}
}

// ready waits until the client has discovered the server.
func (c *cloverClient) ready(t *testing.T) {
	t.Helper()
	eventually(t, "the client reaches the server", func() bool {
		data := testsupport.CallJSON(t, "GET", c.server.URL+"/api/health", "").Object("data")
		return data["clover"] == "ok"
	})
}

func TestClientLogsInThroughCloverWithAPassword(t *testing.T) {
	t.Parallel()
	s := newIdentityServer(t)
	c := s.client(t)
	c.ready(t)

	answer := c.login(t, "type=password", `{"emailOrUsername": "bob@example.com", "password": "`+testPassword+`"}`)
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
	mails := testsupport.CatchMail(s.app)
	testsupport.UpdateCollection(t, s.app, "users", func(users *core.Collection) {
		users.OTP.Enabled = true
		users.MFA.Enabled = true
	})
	c := s.client(t)
	c.ready(t)

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
	c.ready(t)
	login := c.login(t, "type=password", `{"emailOrUsername": "bob@example.com", "password": "`+testPassword+`"}`)
	if login.Status != 200 {
		t.Fatalf("login: %d %s", login.Status, login.Raw)
	}

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
	eventually(t, "the revoked family's token is refused", func() bool {
		return c.whoami(t, refreshed.Body["token"].(string)).Status == 401
	})
}

func TestClientRefusesRevokedTokens(t *testing.T) {
	t.Parallel()
	s := newIdentityServer(t)
	c := s.client(t)
	c.ready(t)
	loginBob := func() string {
		answer := c.login(t, "type=password", `{"emailOrUsername": "bob@example.com", "password": "`+testPassword+`"}`)
		if answer.Status != 200 {
			t.Fatalf("login: %d %s", answer.Status, answer.Raw)
		}
		return answer.Body["token"].(string)
	}

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
	eventually(t, "a token revoked on the server is refused", func() bool { return c.whoami(t, token).Status == 401 })
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
