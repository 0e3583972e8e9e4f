package auth_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/internal/testsupport"
	"github.com/postr-inc/hapta/plugins/clover"
	"github.com/postr-inc/hapta/plugins/hapta"
	"github.com/postr-inc/hapta/routes"
)

const password = "password-for-tests-1" // testsupport.NewAuthRecord's

type authApp struct {
	core.App
	server *httptest.Server
	mails  *testsupport.Mailbox
}

// newAuthApp is the distribution's app with its mail caught; lockout after
// 3 failures a minute per account and address, 6 per account; clients'
// addresses from X-Forwarded-For.
func newAuthApp(t *testing.T, configure func(users *core.Collection)) *authApp {
	t.Helper()
	app := testsupport.NewApp(t, func(app core.App) {
		clover.MustRegister(app, clover.Config{})
		hapta.MustRegister(app, nil, hapta.Config{
			ConfigFile: testsupport.WriteFile(t, "hapta-config.json", `{"logLevel": "error"}`),
			Lockout:    hapta.LockoutConfig{MaxFailures: 3, Window: time.Minute, AccountMaxFailures: 6, AccountWindow: time.Minute},
		})
		routes.Register(app)
	})
	settings := app.Settings()
	settings.TrustedProxy.Headers = []string{"X-Forwarded-For"}
	if err := app.Save(settings); err != nil {
		t.Fatal(err)
	}
	users, err := app.FindCollectionByNameOrId("users")
	if err != nil {
		t.Fatal(err)
	}
	if configure != nil {
		configure(users)
		if err := app.Save(users); err != nil {
			t.Fatal(err)
		}
	}
	mails := testsupport.CatchMail(app)
	server, err := testsupport.Serve(t, app)
	if err != nil {
		t.Fatal(err)
	}
	return &authApp{App: app, server: server, mails: mails}
}

type answer struct{ testsupport.Answer }

func (a *authApp) login(t *testing.T, query string, body map[string]any, headers ...string) answer {
	t.Helper()
	payload, _ := json.Marshal(body)
	return answer{testsupport.CallJSON(t, http.MethodPost, a.server.URL+"/auth?"+query, string(payload), headers...)}
}

func (r answer) principal() map[string]any {
	p, _ := r.Body["principal"].(map[string]any)
	return p
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
	if p := ok.principal(); p["id"] != user.Id || p["strategy"] != hapta.StrategyPassword || p["collection"] != "users" || p["expiresAt"] == nil {
		t.Fatalf("principal: %v", p)
	}
	// the token is PocketBase's own
	if _, err := a.FindAuthRecordByToken(ok.Body["token"].(string), core.TokenTypeAuth); err != nil {
		t.Fatalf("the token is not a PocketBase auth token: %v", err)
	}

	wrong := a.login(t, "type=password", map[string]any{"emailOrUsername": "ann@example.com", "password": "wrong-password"})
	unknown := a.login(t, "type=password", map[string]any{"emailOrUsername": "nobody@example.com", "password": "wrong-password"})
	if wrong.Status != 400 || unknown.Status != 400 || wrong.Body["message"] != unknown.Body["message"] {
		t.Fatalf("a wrong password and an unknown account must answer alike: %v / %v", wrong.Body, unknown.Body)
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

func TestLockoutPerAccount(t *testing.T) {
	t.Parallel()
	a := newAuthApp(t, nil)
	testsupport.NewAuthRecord(t, a, "users", "bo@example.com")
	attempt := func(pass string) answer {
		return a.login(t, "type=password", map[string]any{"emailOrUsername": "bo@example.com", "password": pass})
	}

	// a success clears the failures
	attempt("wrong-1")
	attempt("wrong-2")
	if res := attempt(password); res.Status != 200 {
		t.Fatalf("login after 2 failures: %d", res.Status)
	}
	for i := 0; i < 3; i++ {
		if res := attempt("wrong-again"); res.Status != 400 {
			t.Fatalf("failure %d: %d", i, res.Status)
		}
	}

	// locked at this address: even the right password, through Go's
	// Authenticate too
	locked := attempt(password)
	retry := locked.Header.Get("Retry-After")
	if locked.Status != 429 || retry == "" || retry == "0" {
		t.Fatalf("after 3 failures: %d Retry-After %q %v", locked.Status, retry, locked.Body)
	}
	_, err := hapta.ServicesOf(a).Authenticate.Password(hapta.Caller{RemoteAddr: "127.0.0.1:5555"},
		hapta.PasswordLogin{Identity: "bo@example.com", Password: password})
	var lockedOut *hapta.LockedOutError
	if !errors.As(err, &lockedOut) || lockedOut.RetryAfter <= 0 || lockedOut.RetryAfter > time.Minute {
		t.Fatalf("through Go: %v", err)
	}
}

// pbLogin is PocketBase's own POST /api/collections/{collection}/auth-with-password.
func (a *authApp) pbLogin(t *testing.T, collection, identity, pass string, headers ...string) answer {
	t.Helper()
	payload, _ := json.Marshal(map[string]any{"identity": identity, "password": pass})
	return answer{testsupport.CallJSON(t, http.MethodPost, a.server.URL+"/api/collections/"+collection+"/auth-with-password", string(payload), headers...)}
}

// pbOTP is PocketBase's own POST /api/collections/{collection}/auth-with-otp.
func (a *authApp) pbOTP(t *testing.T, collection, otpID, code string) answer {
	t.Helper()
	payload, _ := json.Marshal(map[string]any{"otpId": otpID, "password": code})
	return answer{testsupport.CallJSON(t, http.MethodPost, a.server.URL+"/api/collections/"+collection+"/auth-with-otp", string(payload))}
}

// wantLocked checks a lockout's answer: 429, Retry-After within the
// test's minute, PocketBase's ApiError shape.
func wantLocked(t *testing.T, what string, res answer) answer {
	t.Helper()
	retry, _ := strconv.Atoi(res.Header.Get("Retry-After"))
	data, isObject := res.Body["data"].(map[string]any)
	if res.Status != 429 || retry < 1 || retry > 60 || res.Body["status"] != 429.0 || res.Body["message"] == "" ||
		!isObject || len(data) != 0 {
		t.Fatalf("%s: %d Retry-After %q %v, want a 429 ApiError", what, res.Status, res.Header.Get("Retry-After"), res.Body["message"])
	}
	return res
}

func wantStatus(t *testing.T, what string, res answer, status int) {
	t.Helper()
	if res.Status != status {
		t.Fatalf("%s: %d %v, want %d", what, res.Status, res.Body["message"], status)
	}
}

// Every spelling PocketBase accepts for the collection counts on one account.
func TestLockoutSharedAcrossCollectionSpellings(t *testing.T) {
	t.Parallel()
	a := newAuthApp(t, nil)
	testsupport.NewAuthRecord(t, a, "users", "cy@example.com")
	users, err := a.FindCollectionByNameOrId("users")
	if err != nil {
		t.Fatal(err)
	}
	for _, collection := range []string{"users", "USERS", users.Id} {
		res := a.login(t, "type=password&collection="+collection, map[string]any{"emailOrUsername": "cy@example.com", "password": "wrong-password"})
		wantStatus(t, "a failure through collection="+collection, res, 400)
	}
	wantLocked(t, "the right password after 3 failures in 3 spellings",
		a.login(t, "type=password&collection=Users", map[string]any{"emailOrUsername": "cy@example.com", "password": password}))
}

// usernames adds a username login to users, beside email.
func usernames(users *core.Collection) {
	users.Fields.Add(&core.TextField{Name: "username"})
	users.AddIndex("idx_users_username", true, "username COLLATE NOCASE", "username != ''")
	users.PasswordAuth.IdentityFields = []string{"email", "username"}
}

// The identities of one account count on the account, in any letter case
// where PocketBase ignores it (here the username's NOCASE index).
func TestLockoutSharedAcrossIdentities(t *testing.T) {
	t.Parallel()
	a := newAuthApp(t, usernames)
	user, _ := testsupport.NewAuthRecord(t, a, "users", "dora@example.com")
	user.Set("username", "dora")
	if err := a.Save(user); err != nil {
		t.Fatal(err)
	}
	if res := a.login(t, "type=password", map[string]any{"emailOrUsername": "Dora", "password": password}); res.Status != 200 || res.principal()["id"] != user.Id {
		t.Fatalf("the username login: %d %v", res.Status, res.Body["message"])
	}
	for _, identity := range []string{"dora@example.com", "dora", "DORA"} {
		res := a.login(t, "type=password", map[string]any{"emailOrUsername": identity, "password": "wrong-password"})
		wantStatus(t, "a failure as "+identity, res, 400)
	}
	wantLocked(t, "the right password after 3 failures as 3 identities",
		a.login(t, "type=password", map[string]any{"emailOrUsername": "dOrA", "password": password}))
}

// PocketBase's own password and OTP endpoints are guarded, with the same
// count as POST /auth.
func TestLockoutGuardsPocketBaseEndpoints(t *testing.T) {
	t.Parallel()
	a := newAuthApp(t, enableOTP)
	testsupport.NewAuthRecord(t, a, "users", "eve@example.com")
	otpID, code := a.requestOTP(t, "eve@example.com")

	wantStatus(t, "auth-with-password, wrong", a.pbLogin(t, "users", "eve@example.com", "wrong-password"), 400)
	wantStatus(t, "auth-with-otp, wrong", a.pbOTP(t, "users", otpID, "000000x"), 400)
	wantStatus(t, "POST /auth, wrong", a.login(t, "type=password", map[string]any{"emailOrUsername": "eve@example.com", "password": "wrong-password"}), 400)

	wantLocked(t, "auth-with-password, right", a.pbLogin(t, "users", "eve@example.com", password))
	wantLocked(t, "auth-with-otp, right", a.pbOTP(t, "users", otpID, code))
	wantLocked(t, "POST /auth, right", a.login(t, "type=password", map[string]any{"emailOrUsername": "eve@example.com", "password": password}))
	wantLocked(t, "POST /auth otp, right", a.login(t, "type=otp", map[string]any{"otpId": otpID, "code": code}))
}

// A stranger's failures from one address do not refuse the owner at
// another, until the account-wide threshold refuses everyone.
func TestLockoutTiers(t *testing.T) {
	t.Parallel()
	a := newAuthApp(t, nil)
	testsupport.NewAuthRecord(t, a, "users", "fay@example.com")
	from := func(ip string) []string { return []string{"X-Forwarded-For", ip} }
	const stranger, owner, other, newcomer = "198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"
	viaAuth := func(pass, ip string) answer {
		return a.login(t, "type=password", map[string]any{"emailOrUsername": "fay@example.com", "password": pass}, from(ip)...)
	}

	for i := 0; i < 3; i++ {
		wantStatus(t, "the stranger's failure", viaAuth("wrong-password", stranger), 400)
	}
	addressLocked := wantLocked(t, "the stranger's address", viaAuth(password, stranger))
	wantStatus(t, "the owner, elsewhere, through POST /auth", viaAuth(password, owner), 200)
	wantStatus(t, "the owner, elsewhere, through PocketBase", a.pbLogin(t, "users", "fay@example.com", password, from(owner)...), 200)

	for i := 0; i < 3; i++ { // 6 failures: the account-wide threshold
		wantStatus(t, "another address's failure", a.pbLogin(t, "users", "fay@example.com", "wrong-password", from(other)...), 400)
	}
	accountLocked := wantLocked(t, "the owner past the account's threshold", viaAuth(password, owner))
	wantLocked(t, "a new address past the account's threshold", a.pbLogin(t, "users", "fay@example.com", password, from(newcomer)...))
	if string(addressLocked.Raw) != string(accountLocked.Raw) {
		t.Fatalf("the tiers' refusals differ: %s / %s", addressLocked.Raw, accountLocked.Raw)
	}
}

// Concurrent guesses from many addresses cannot pass the account-wide
// check together before the first of them is counted.
func TestLockoutBoundsConcurrentGuesses(t *testing.T) {
	t.Parallel()
	a := newAuthApp(t, nil)
	testsupport.NewAuthRecord(t, a, "users", "hal@example.com")
	statuses := make(chan int, 20)
	var wg sync.WaitGroup
	for i := range cap(statuses) {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, a.server.URL+"/api/collections/users/auth-with-password",
				strings.NewReader(`{"identity": "hal@example.com", "password": "wrong-password"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Forwarded-For", "198.51.100."+strconv.Itoa(i+1))
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				statuses <- 0
				return
			}
			res.Body.Close()
			statuses <- res.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	counts := map[int]int{}
	for status := range statuses {
		counts[status]++
	}
	if counts[400] != 6 || counts[429] != cap(statuses)-6 {
		t.Fatalf("20 concurrent guesses answered %v, want 6 checked (400) and the rest 429", counts)
	}
}

// An unknown identity locks as a known account does: same answers.
func TestLockoutUnknownIdentitiesLockAlike(t *testing.T) {
	t.Parallel()
	a := newAuthApp(t, nil)
	testsupport.NewAuthRecord(t, a, "users", "gus@example.com")
	users, err := a.FindCollectionByNameOrId("users")
	if err != nil {
		t.Fatal(err)
	}
	answers := func(identity string) (failures []answer, locked answer) {
		failures = []answer{
			a.login(t, "type=password", map[string]any{"emailOrUsername": identity, "password": "wrong-password"}),
			a.pbLogin(t, "USERS", identity, "wrong-password"),
			a.pbLogin(t, users.Id, identity, "wrong-password"),
		}
		return failures, a.pbLogin(t, "users", identity, "wrong-password")
	}
	knownFailures, knownLocked := answers("gus@example.com")
	unknownFailures, unknownLocked := answers("nobody@example.com")
	for i := range knownFailures {
		if k, u := knownFailures[i], unknownFailures[i]; k.Status != 400 || u.Status != 400 || string(k.Raw) != string(u.Raw) {
			t.Fatalf("failure %d: known %d %v, unknown %d %v", i, k.Status, k.Body["message"], u.Status, u.Body["message"])
		}
	}
	wantLocked(t, "the known account", knownLocked)
	wantLocked(t, "the unknown identity", unknownLocked)
	if string(knownLocked.Raw) != string(unknownLocked.Raw) {
		t.Fatalf("the lockouts differ: known %s, unknown %s", knownLocked.Raw, unknownLocked.Raw)
	}
}

var otpCode = regexp.MustCompile(`<strong>([0-9A-Za-z]+)</strong>`)

// requestOTP asks for a one-time password for email and returns its id and
// the code from the mail (PocketBase sends it in the background).
func (a *authApp) requestOTP(t *testing.T, email string) (otpID, code string) {
	t.Helper()
	before := a.mails.Count()
	res := a.login(t, "type=otp", map[string]any{"email": email})
	otpID, _ = res.Body["otpId"].(string)
	if res.Status != 200 || otpID == "" {
		t.Fatalf("request-otp: %d %v", res.Status, res.Body)
	}
	for deadline := time.Now().Add(5 * time.Second); a.mails.Count() == before; {
		if time.Now().After(deadline) {
			t.Fatal("no mail was sent")
		}
		time.Sleep(10 * time.Millisecond)
	}
	match := otpCode.FindStringSubmatch(a.mails.Last().HTML)
	if match == nil {
		t.Fatalf("no code in the mail: %s", a.mails.Last().HTML)
	}
	return otpID, match[1]
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
	if res.Status != 200 || res.principal()["id"] != user.Id || res.principal()["strategy"] != hapta.StrategyOTP {
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

	wrong := func() answer {
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
	wantStatus(t, "a failure after the first factor", wrong(), 400)
	wantStatus(t, "a second failure after the first factor", wrong(), 400)

	otpID, code := a.requestOTP(t, "mia@example.com")
	second := a.login(t, "type=mfa", map[string]any{"mfaId": mfaID, "otpId": otpID, "code": code})
	if second.Status != 200 || second.principal()["id"] != user.Id || second.Body["token"] == "" {
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

// fakeProvider is an OpenID Connect provider on loopback: it issues codes
// bound to the PKCE challenge, checks the verifier at the token endpoint and
// serves the user's info.
type fakeProvider struct {
	*httptest.Server
	mu         sync.Mutex
	challenges map[string]string // code -> code_challenge
}

func newFakeProvider(t *testing.T) *fakeProvider {
	p := &fakeProvider{challenges: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("code_challenge_method") != "S256" || q.Get("client_id") != "hapta-client" {
			http.Error(w, "bad authorization request", http.StatusBadRequest)
			return
		}
		code := "code-" + q.Get("state")[:8]
		p.mu.Lock()
		p.challenges[code] = q.Get("code_challenge")
		p.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?code="+code+"&state="+url.QueryEscape(q.Get("state")), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		p.mu.Lock()
		challenge, ok := p.challenges[r.PostForm.Get("code")]
		delete(p.challenges, r.PostForm.Get("code"))
		p.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		if !ok || base64.RawURLEncoding.EncodeToString(sum[:]) != challenge {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error": "invalid_grant"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token": "access-1", "token_type": "Bearer", "expires_in": 3600}`))
	})
	mux.HandleFunc("GET /userinfo", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer access-1" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"sub": "oidc-user-1", "email": "olga@example.com", "email_verified": true, "name": "Olga"}`))
	})
	p.Server = httptest.NewServer(mux)
	t.Cleanup(p.Close)
	return p
}

// authorize plays the browser: it follows authUrl to the provider and
// returns the code and state of the redirect back.
func (p *fakeProvider) authorize(t *testing.T, authURL string) (code, state string) {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	location, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("authorize: %d %v", res.StatusCode, res.Header)
	}
	return location.Query().Get("code"), location.Query().Get("state")
}

func TestOAuth2Login(t *testing.T) {
	t.Parallel()
	provider := newFakeProvider(t)
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
	complete := func(code, state string) answer {
		return a.login(t, "type=oauth", map[string]any{"provider": "oidc", "redirectUrl": redirect, "code": code, "state": state})
	}

	authURL, state := start()
	code, returnedState := provider.authorize(t, authURL)
	if returnedState != state {
		t.Fatalf("the provider returned state %q, want %q", returnedState, state)
	}
	if res := complete(code, "forged-state"); res.Status != 400 {
		t.Fatalf("a wrong state: %d %v", res.Status, res.Body)
	}
	res := complete(code, state)
	if res.Status != 200 || res.principal()["email"] != "olga@example.com" || res.principal()["strategy"] != hapta.StrategyOAuth2 {
		t.Fatalf("login: %d %v", res.Status, res.Body)
	}
	if res := complete(code, state); res.Status != 400 {
		t.Fatalf("a state used twice: %d %v", res.Status, res.Body)
	}

	// a code obtained for one login, completed with another login's state,
	// reaches the provider with the wrong PKCE verifier: refused
	authURL1, _ := start()
	_, state2 := start()
	code1, _ := provider.authorize(t, authURL1)
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
	p := res.principal()
	if res.Status != 200 || p["tenantId"] != tenant.Id || p["highestClearance"] != 7.0 {
		t.Fatalf("principal: %d %v", res.Status, p)
	}
}
