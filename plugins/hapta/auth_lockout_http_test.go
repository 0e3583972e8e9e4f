package hapta

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/internal/testsupport"
)

// The tests of this file log in through Authenticate (a route that calls
// it) and through PocketBase's own endpoints, which the lockout guards.

const password = "password-for-tests-1" // testsupport.NewAuthRecord's

type lockoutTestApp struct{ *testsupport.Served }

// loginInput is the test route's: a password or an OTP login.
type loginInput struct {
	Collection string `query:"collection"`
	Identity   string `json:"identity"`
	Password   string `json:"password"`
	OTPID      string `json:"otpId"`
	Code       string `json:"code"`
}

// lockoutApp serves hapta with POST /login calling Authenticate; lockout
// after 3 failures a minute per account and address, 6 per account;
// clients' addresses from X-Forwarded-For; mail caught.
func lockoutApp(t *testing.T, configure func(users *core.Collection)) *lockoutTestApp {
	t.Helper()
	app := testsupport.NewApp(t, func(app core.App) {
		_, err := register(app, nil, Config{
			ConfigFile: writeConfig(t, `{"logLevel": "error"}`).path,
			Lockout:    LockoutConfig{MaxFailures: 3, Window: time.Minute, AccountMaxFailures: 6, AccountWindow: time.Minute},
		}, &testsupport.SyncBuffer{})
		if err != nil {
			t.Fatal(err)
		}
	})
	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		Handle(se, "POST /login", func(ctx *Context, in loginInput) error {
			auth := ctx.Services.Authenticate
			var result *AuthResult
			var err error
			if in.OTPID != "" {
				result, err = auth.OTP(CallerOf(ctx), OTPLogin{Collection: in.Collection, OTPID: in.OTPID, Code: in.Code})
			} else {
				result, err = auth.Password(CallerOf(ctx), PasswordLogin{Collection: in.Collection, Identity: in.Identity, Password: in.Password})
			}
			if err != nil {
				return err
			}
			return ctx.JSON(http.StatusOK, result)
		})
		return se.Next()
	})
	testsupport.TrustForwardedFor(t, app)
	if configure != nil {
		testsupport.UpdateCollection(t, app, "users", configure)
	}
	return &lockoutTestApp{testsupport.ServeWithMail(t, app)}
}

// login logs in with a password through Authenticate.
func (a *lockoutTestApp) login(t *testing.T, collection, identity, pass string, headers ...string) testsupport.Answer {
	t.Helper()
	payload, _ := json.Marshal(map[string]any{"identity": identity, "password": pass})
	return testsupport.CallJSON(t, http.MethodPost, a.Server.URL+"/login?collection="+collection, string(payload), headers...)
}

// loginOTP logs in with a one-time password through Authenticate.
func (a *lockoutTestApp) loginOTP(t *testing.T, otpID, code string) testsupport.Answer {
	t.Helper()
	payload, _ := json.Marshal(map[string]any{"otpId": otpID, "code": code})
	return testsupport.CallJSON(t, http.MethodPost, a.Server.URL+"/login", string(payload))
}

// requestOTP asks PocketBase to mail a one-time password for email and
// returns its id and the code.
func (a *lockoutTestApp) requestOTP(t *testing.T, email string) (otpID, code string) {
	t.Helper()
	sent := a.Mails.Count()
	res := testsupport.CallJSON(t, http.MethodPost, a.Server.URL+"/api/collections/users/request-otp", `{"email": "`+email+`"}`)
	otpID, _ = res.Body["otpId"].(string)
	if res.Status != 200 || otpID == "" {
		t.Fatalf("request-otp: %d %v", res.Status, res.Body)
	}
	return otpID, a.Mails.OTPCode(t, sent)
}

func enableOTP(users *core.Collection) { users.OTP.Enabled = true }

func TestLockoutPerAccount(t *testing.T) {
	t.Parallel()
	a := lockoutApp(t, nil)
	testsupport.NewAuthRecord(t, a, "users", "bo@example.com")
	attempt := func(pass string) testsupport.Answer {
		return a.login(t, "", "bo@example.com", pass)
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

	// locked at this address: even the right password, through a route and
	// from Go
	locked := attempt(password)
	retry := locked.Header.Get("Retry-After")
	if locked.Status != 429 || retry == "" || retry == "0" {
		t.Fatalf("after 3 failures: %d Retry-After %q %v", locked.Status, retry, locked.Body)
	}
	_, err := ServicesOf(a).Authenticate.Password(Caller{RemoteAddr: "127.0.0.1:5555"},
		PasswordLogin{Identity: "bo@example.com", Password: password})
	var lockedOut *LockedOutError
	if !errors.As(err, &lockedOut) || lockedOut.RetryAfter <= 0 || lockedOut.RetryAfter > time.Minute {
		t.Fatalf("through Go: %v", err)
	}
}

// pbLogin is PocketBase's own POST /api/collections/{collection}/auth-with-password.
func (a *lockoutTestApp) pbLogin(t *testing.T, collection, identity, pass string, headers ...string) testsupport.Answer {
	t.Helper()
	payload, _ := json.Marshal(map[string]any{"identity": identity, "password": pass})
	return testsupport.CallJSON(t, http.MethodPost, a.Server.URL+"/api/collections/"+collection+"/auth-with-password", string(payload), headers...)
}

// pbOTP is PocketBase's own POST /api/collections/{collection}/auth-with-otp.
func (a *lockoutTestApp) pbOTP(t *testing.T, collection, otpID, code string) testsupport.Answer {
	t.Helper()
	payload, _ := json.Marshal(map[string]any{"otpId": otpID, "password": code})
	return testsupport.CallJSON(t, http.MethodPost, a.Server.URL+"/api/collections/"+collection+"/auth-with-otp", string(payload))
}

// wantLocked checks a lockout's testsupport.Answer: 429, Retry-After within the
// test's minute, PocketBase's ApiError shape.
func wantLocked(t *testing.T, what string, res testsupport.Answer) testsupport.Answer {
	t.Helper()
	retry, _ := strconv.Atoi(res.Header.Get("Retry-After"))
	data, isObject := res.Body["data"].(map[string]any)
	if res.Status != 429 || retry < 1 || retry > 60 || res.Body["status"] != 429.0 || res.Body["message"] == "" ||
		!isObject || len(data) != 0 {
		t.Fatalf("%s: %d Retry-After %q %v, want a 429 ApiError", what, res.Status, res.Header.Get("Retry-After"), res.Body["message"])
	}
	return res
}

func wantStatus(t *testing.T, what string, res testsupport.Answer, status int) {
	t.Helper()
	if res.Status != status {
		t.Fatalf("%s: %d %v, want %d", what, res.Status, res.Body["message"], status)
	}
}

// Every spelling PocketBase accepts for the collection counts on one account.
func TestLockoutSharedAcrossCollectionSpellings(t *testing.T) {
	t.Parallel()
	a := lockoutApp(t, nil)
	testsupport.NewAuthRecord(t, a, "users", "cy@example.com")
	users, err := a.FindCollectionByNameOrId("users")
	if err != nil {
		t.Fatal(err)
	}
	for _, collection := range []string{"users", "USERS", users.Id} {
		res := a.login(t, collection, "cy@example.com", "wrong-password")
		wantStatus(t, "a failure through collection="+collection, res, 400)
	}
	wantLocked(t, "the right password after 3 failures in 3 spellings",
		a.login(t, "Users", "cy@example.com", password))
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
	a := lockoutApp(t, usernames)
	user, _ := testsupport.NewAuthRecord(t, a, "users", "dora@example.com")
	user.Set("username", "dora")
	if err := a.Save(user); err != nil {
		t.Fatal(err)
	}
	if res := a.login(t, "", "Dora", password); res.Status != 200 || res.Object("principal")["id"] != user.Id {
		t.Fatalf("the username login: %d %v", res.Status, res.Body["message"])
	}
	for _, identity := range []string{"dora@example.com", "dora", "DORA"} {
		res := a.login(t, "", identity, "wrong-password")
		wantStatus(t, "a failure as "+identity, res, 400)
	}
	wantLocked(t, "the right password after 3 failures as 3 identities",
		a.login(t, "", "dOrA", password))
}

// PocketBase's own password and OTP endpoints are guarded, with the same
// count as Authenticate.
func TestLockoutGuardsPocketBaseEndpoints(t *testing.T) {
	t.Parallel()
	a := lockoutApp(t, enableOTP)
	testsupport.NewAuthRecord(t, a, "users", "eve@example.com")
	otpID, code := a.requestOTP(t, "eve@example.com")

	wantStatus(t, "auth-with-password, wrong", a.pbLogin(t, "users", "eve@example.com", "wrong-password"), 400)
	wantStatus(t, "auth-with-otp, wrong", a.pbOTP(t, "users", otpID, "000000x"), 400)
	wantStatus(t, "Authenticate, wrong", a.login(t, "", "eve@example.com", "wrong-password"), 400)

	wantLocked(t, "auth-with-password, right", a.pbLogin(t, "users", "eve@example.com", password))
	wantLocked(t, "auth-with-otp, right", a.pbOTP(t, "users", otpID, code))
	wantLocked(t, "Authenticate, right", a.login(t, "", "eve@example.com", password))
	wantLocked(t, "Authenticate otp, right", a.loginOTP(t, otpID, code))
}

// A stranger's failures from one address do not refuse the owner at
// another, until the account-wide threshold refuses everyone.
func TestLockoutTiers(t *testing.T) {
	t.Parallel()
	a := lockoutApp(t, nil)
	testsupport.NewAuthRecord(t, a, "users", "fay@example.com")
	from := func(ip string) []string { return []string{"X-Forwarded-For", ip} }
	const stranger, owner, other, newcomer = "198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"
	viaAuth := func(pass, ip string) testsupport.Answer {
		return a.login(t, "", "fay@example.com", pass, from(ip)...)
	}

	for i := 0; i < 3; i++ {
		wantStatus(t, "the stranger's failure", viaAuth("wrong-password", stranger), 400)
	}
	addressLocked := wantLocked(t, "the stranger's address", viaAuth(password, stranger))
	wantStatus(t, "the owner, elsewhere, through Authenticate", viaAuth(password, owner), 200)
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
	a := lockoutApp(t, nil)
	testsupport.NewAuthRecord(t, a, "users", "hal@example.com")
	statuses := make(chan int, 20)
	var wg sync.WaitGroup
	for i := range cap(statuses) {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, a.Server.URL+"/api/collections/users/auth-with-password",
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
	a := lockoutApp(t, nil)
	testsupport.NewAuthRecord(t, a, "users", "gus@example.com")
	users, err := a.FindCollectionByNameOrId("users")
	if err != nil {
		t.Fatal(err)
	}
	answers := func(identity string) (failures []testsupport.Answer, locked testsupport.Answer) {
		failures = []testsupport.Answer{
			a.login(t, "", identity, "wrong-password"),
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
