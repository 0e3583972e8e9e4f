package auth_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/internal/testsupport"
	"github.com/postr-inc/hapta/plugins/clover"
	"github.com/postr-inc/hapta/plugins/hapta"
	"github.com/postr-inc/hapta/routes"
)

const password = "password-for-tests-1" // testsupport.NewAuthRecord's

type authApp struct{ *testsupport.Served }

// newAuthApp is the distribution's app with its mail caught; lockout after
// 3 failures a minute per account and address, 6 per account; clients'
// addresses from X-Forwarded-For.
func newAuthApp(t *testing.T, configure func(users *core.Collection)) *authApp {
	t.Helper()
	app := testsupport.NewApp(t, func(app core.App) {
		clover.MustRegister(app, nil, clover.Config{})
		hapta.MustRegister(app, nil, hapta.Config{
			ConfigFile: testsupport.WriteFile(t, "hapta-config.json", `{"logLevel": "error"}`),
			Lockout:    hapta.LockoutConfig{MaxFailures: 3, Window: time.Minute, AccountMaxFailures: 6, AccountWindow: time.Minute},
		})
		routes.Register(app)
	})
	testsupport.TrustForwardedFor(t, app)
	if configure != nil {
		testsupport.UpdateCollection(t, app, "users", configure)
	}
	return &authApp{testsupport.ServeWithMail(t, app)}
}

func (a *authApp) login(t *testing.T, query string, body map[string]any, headers ...string) testsupport.Answer {
	t.Helper()
	payload, _ := json.Marshal(body)
	return testsupport.CallJSON(t, http.MethodPost, a.Server.URL+"/auth?"+query, string(payload), headers...)
}

func TestPasswordLogin(t *testing.T) {
	t.Parallel()
	a := newAuthApp(t, nil)
	user, _ := testsupport.NewAuthRecord(t, a, "users", "ann@example.com")

	ok := a.login(t, "type=password", map[string]any{"emailOrUsername": "ann@example.com", "password": password})
	if ok.Status != 200 || ok.Body["isAuthenticated"] != true || ok.Body["token"] == "" ||
		ok.Body["record"].(map[string]any)["id"] != user.Id {
		t.Fatalf("login: %d %v", ok.Status, ok.Body)
	}
	if p := ok.Object("principal"); p["id"] != user.Id || p["strategy"] != hapta.StrategyPassword || p["collection"] != "users" || p["expiresAt"] == nil {
		t.Fatalf("principal: %v", p)
	}
	// the token is PocketBase's own
	if _, err := a.FindAuthRecordByToken(ok.Body["token"].(string), core.TokenTypeAuth); err != nil {
		t.Fatalf("the token is not a PocketBase auth token: %v", err)
	}

	wrong := a.login(t, "type=password", map[string]any{"emailOrUsername": "ann@example.com", "password": "wrong-password"})
	unknown := a.login(t, "type=password", map[string]any{"emailOrUsername": "nobody@example.com", "password": "wrong-password"})
	if wrong.Status != 400 || unknown.Status != 400 || wrong.Body["message"] != unknown.Body["message"] {
		t.Fatalf("a wrong password and an unknown account must testsupport.Answer alike: %v / %v", wrong.Body, unknown.Body)
	}

	invalid := a.login(t, "type=password", map[string]any{"emailOrUsername": "an", "password": "12345"})
	data, _ := invalid.Body["data"].(map[string]any)
	if invalid.Status != 400 || data["emailOrUsername"] == nil || data["password"] == nil {
		t.Fatalf("schema: %d %v", invalid.Status, invalid.Body)
	}
	if res := a.login(t, "type=telepathy", nil); res.Status != 400 {
		t.Fatalf("unknown type: %d", res.Status)
	}
}

// requestOTP asks for a one-time password for email and returns its id and
// the code from the mail (PocketBase sends it in the background).
func (a *authApp) requestOTP(t *testing.T, email string) (otpID, code string) {
	t.Helper()
	sent := a.Mails.Count()
	res := a.login(t, "type=otp", map[string]any{"email": email})
	otpID, _ = res.Body["otpId"].(string)
	if res.Status != 200 || otpID == "" {
		t.Fatalf("request-otp: %d %v", res.Status, res.Body)
	}
	return otpID, a.Mails.OTPCode(t, sent)
}

func enableOTP(users *core.Collection) { users.OTP.Enabled = true }

func TestOTPLogin(t *testing.T) {
	t.Parallel()
	a := newAuthApp(t, enableOTP)
	user, _ := testsupport.NewAuthRecord(t, a, "users", "otto@example.com")

	otpID, code := a.requestOTP(t, "otto@example.com")

	if res := a.login(t, "type=otp", map[string]any{"otpId": otpID, "code": "000000x"}); res.Status != 400 {
		t.Fatalf("a wrong code: %d %v", res.Status, res.Body)
	}
	res := a.login(t, "type=otp", map[string]any{"otpId": otpID, "code": code})
	if res.Status != 200 || res.Object("principal")["id"] != user.Id || res.Object("principal")["strategy"] != hapta.StrategyOTP {
		t.Fatalf("login: %d %v", res.Status, res.Body)
	}

	// an expired one-time password is refused
	otpID, code = a.requestOTP(t, "otto@example.com")
	// PocketBase saves the OTP again (its sentTo) after mailing it: age it after that
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		otp, err := a.FindOTPById(otpID)
		if err == nil && otp.SentTo() != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the OTP was never marked as sent")
		}
	}
	past := time.Now().Add(-time.Hour).UTC().Format("2006-01-02 15:04:05.000Z")
	result, err := a.NonconcurrentDB().NewQuery("UPDATE _otps SET created = {:past} WHERE id = {:id}").
		Bind(map[string]any{"past": past, "id": otpID}).Execute()
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := result.RowsAffected(); n != 1 {
		t.Fatalf("aged %d one-time passwords, want 1", n)
	}
	if res := a.login(t, "type=otp", map[string]any{"otpId": otpID, "code": code}); res.Status != 400 {
		t.Fatalf("an expired code: %d %v", res.Status, res.Body)
	}

	// an unknown email gets an id too, as a known one does
	if res := a.login(t, "type=otp", map[string]any{"email": "stranger@example.com"}); res.Status != 200 || res.Body["otpId"] == "" {
		t.Fatalf("unknown email: %d %v", res.Status, res.Body)
	}
}

func TestMFAAcrossTwoFactors(t *testing.T) {
	t.Parallel()
	a := newAuthApp(t, func(users *core.Collection) {
		users.OTP.Enabled = true
		users.MFA.Enabled = true
	})
	user, _ := testsupport.NewAuthRecord(t, a, "users", "mia@example.com")

	wrong := func() testsupport.Answer {
		return a.login(t, "type=password", map[string]any{"emailOrUsername": "mia@example.com", "password": "wrong-password"})
	}
	wrong()
	wrong()
	first := a.login(t, "type=password", map[string]any{"emailOrUsername": "mia@example.com", "password": password})
	mfaID, _ := first.Body["mfaId"].(string)
	if first.Status != 401 || mfaID == "" || first.Body["isAuthenticated"] != false || first.Body["token"] != nil {
		t.Fatalf("first factor: %d %v", first.Status, first.Body)
	}
	// a first factor that passed is a success for the lockout: it cleared the 2 failures
	for i, res := range []testsupport.Answer{wrong(), wrong()} {
		if res.Status != 400 {
			t.Fatalf("failure %d after the first factor: %d %v", i+1, res.Status, res.Body["message"])
		}
	}

	otpID, code := a.requestOTP(t, "mia@example.com")
	second := a.login(t, "type=mfa", map[string]any{"mfaId": mfaID, "otpId": otpID, "code": code})
	if second.Status != 200 || second.Object("principal")["id"] != user.Id || second.Body["token"] == "" {
		t.Fatalf("second factor: %d %v", second.Status, second.Body)
	}

	// the mfa id served once
	otpID, code = a.requestOTP(t, "mia@example.com")
	if reused := a.login(t, "type=mfa", map[string]any{"mfaId": mfaID, "otpId": otpID, "code": code}); reused.Status == 200 {
		t.Fatalf("a reused mfa id logged in: %v", reused.Body)
	}
	if res := a.login(t, "type=mfa", map[string]any{"emailOrUsername": "mia@example.com", "password": password}); res.Status != 400 {
		t.Fatalf("mfa without its id: %d", res.Status)
	}
}

func TestOAuth2Login(t *testing.T) {
	t.Parallel()
	provider := testsupport.NewOAuth2Provider(t)
	a := newAuthApp(t, func(users *core.Collection) {
		users.OAuth2.Enabled = true
		users.OAuth2.Providers = []core.OAuth2ProviderConfig{{
			Name: "oidc", ClientId: "hapta-client", ClientSecret: "hapta-secret",
			AuthURL: provider.URL + "/authorize", TokenURL: provider.URL + "/token", UserInfoURL: provider.URL + "/userinfo",
		}}
	})
	const redirect = "http://localhost:5173/oauth-callback"

	start := func() (authURL, state string) {
		t.Helper()
		res := a.login(t, "type=oauth", map[string]any{"provider": "oidc", "redirectUrl": redirect})
		authURL, _ = res.Body["authUrl"].(string)
		state, _ = res.Body["state"].(string)
		if res.Status != 200 || !strings.HasPrefix(authURL, provider.URL+"/authorize?") || state == "" {
			t.Fatalf("start: %d %v", res.Status, res.Body)
		}
		return authURL, state
	}
	complete := func(code, state string) testsupport.Answer {
		return a.login(t, "type=oauth", map[string]any{"provider": "oidc", "redirectUrl": redirect, "code": code, "state": state})
	}

	authURL, state := start()
	code, returnedState := provider.Authorize(t, authURL)
	if returnedState != state {
		t.Fatalf("the provider returned state %q, want %q", returnedState, state)
	}
	if res := complete(code, "forged-state"); res.Status != 400 {
		t.Fatalf("a wrong state: %d %v", res.Status, res.Body)
	}
	res := complete(code, state)
	if res.Status != 200 || res.Object("principal")["email"] != "olga@example.com" || res.Object("principal")["strategy"] != hapta.StrategyOAuth2 {
		t.Fatalf("login: %d %v", res.Status, res.Body)
	}
	if res := complete(code, state); res.Status != 400 {
		t.Fatalf("a state used twice: %d %v", res.Status, res.Body)
	}

	// a code obtained for one login, completed with another login's state,
	// reaches the provider with the wrong PKCE verifier: refused
	authURL1, _ := start()
	_, state2 := start()
	code1, _ := provider.Authorize(t, authURL1)
	if res := complete(code1, state2); res.Status != 400 {
		t.Fatalf("a wrong verifier: %d %v", res.Status, res.Body)
	}

	if res := a.login(t, "type=oauth", map[string]any{"provider": "github", "redirectUrl": redirect}); res.Status != 400 {
		t.Fatalf("a provider the collection lacks: %d %v", res.Status, res.Body)
	}
}

func TestLoginPrincipalHasTheTenant(t *testing.T) {
	t.Parallel()
	a := newAuthApp(t, nil)
	user, _ := testsupport.NewAuthRecord(t, a, "users", "tia@example.com")
	save := func(collection string, data map[string]any) *core.Record {
		return testsupport.SaveRecord(t, a, collection, data)
	}
	tenant := save(clover.TenantsCollection, map[string]any{"name": "T"})
	role := save(clover.RolesCollection, map[string]any{"tenant": tenant.Id, "name": "auditor", "security_level": 7})
	save(clover.MembersCollection, map[string]any{"tenant": tenant.Id, "user": user.Id, "roles": []string{role.Id}})

	res := a.login(t, "type=password", map[string]any{"emailOrUsername": "tia@example.com", "password": password}, clover.TenantHeader, tenant.Id)
	p := res.Object("principal")
	if res.Status != 200 || p["tenantId"] != tenant.Id || p["highestClearance"] != 7.0 {
		t.Fatalf("principal: %d %v", res.Status, p)
	}
}
