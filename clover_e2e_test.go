package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/postr-inc/hapta/internal/testsupport"
)

// mailHook keeps the last mail the server sends in pb_data/last_mail.html
// instead of sending it: the test reads the OTP there.
const mailHook = `onMailerSend((e) => {
	$os.writeFile(__hooks + "/../pb_data/last_mail.html", e.message.html, 0o600)
})
`

// cloverPair is a Clover server and a Hapta client, two processes of the
// built binary on loopback HTTP.
type cloverPair struct {
	serverDir, serverURL, clientURL string
	tenantID, secret, superuser     string
}

func startCloverPair(t *testing.T) *cloverPair {
	t.Helper()
	serverPort, clientPort := testsupport.FreePort(t), testsupport.FreePort(t)
	p := &cloverPair{serverURL: baseURL(serverPort), clientURL: baseURL(clientPort)}
	p.serverDir = workDir(t, fmt.Sprintf(`{"port": %d, "logLevel": "warn", "Clover_Serve": true, "DatabaseUrl": %q,
		"ADMIN_EMAIL": "admin@example.com", "ADMIN_PASSWORD": %q}`, serverPort, p.serverURL, adminPassword))
	if err := os.MkdirAll(filepath.Join(p.serverDir, "pb_hooks"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.serverDir, "pb_hooks", "mail.pb.js"), []byte(mailHook), 0o600); err != nil {
		t.Fatal(err)
	}

	create := start(t, p.serverDir, nil, "--dev=false", "clover", "tenant", "create", "Acme", "--first-party")
	if code := create.waitExit(t); code != 0 {
		t.Fatalf("clover tenant create: exit %d:\n%s", code, create.output)
	}
	m := regexp.MustCompile(`client_id=(\w+)\nclient_secret=(\S+)\n`).FindStringSubmatch(create.output.String())
	if m == nil {
		t.Fatalf("no credentials printed:\n%s", create.output)
	}
	p.tenantID, p.secret = m[1], m[2]

	server := start(t, p.serverDir, nil, "serve", "--dev=false")
	server.waitHealthy(t, p.serverURL)
	clientDir := workDir(t, fmt.Sprintf(`{"port": %d, "logLevel": "warn", "Clover_Tenant_ID": %q, "Clover_Secret": %q, "Clover_Server_Url": %q}`,
		clientPort, p.tenantID, p.secret, p.serverURL))
	client := start(t, clientDir, nil, "serve", "--dev=false")
	client.waitHealthy(t, p.clientURL)
	if strings.Contains(client.output.String(), p.secret) || strings.Contains(server.output.String(), p.secret) {
		t.Fatal("a log shows the tenant's secret")
	}

	admin := testsupport.CallJSON(t, "POST", p.serverURL+"/api/collections/_superusers/auth-with-password",
		`{"identity": "admin@example.com", "password": "`+adminPassword+`"}`)
	if admin.Status != 200 {
		t.Fatalf("superuser login: %d %s", admin.Status, admin.Raw)
	}
	p.superuser = admin.Body["token"].(string)
	return p
}

// asSuperuser calls the server's PocketBase API as its superuser.
func (p *cloverPair) asSuperuser(t *testing.T, method, path, body string) testsupport.Answer {
	t.Helper()
	answer := testsupport.CallJSON(t, method, p.serverURL+path, body, "Authorization", p.superuser)
	if answer.Status >= 300 {
		t.Fatalf("%s %s: %d %s", method, path, answer.Status, answer.Raw)
	}
	return answer
}

// auth posts to the client's POST /auth.
func (p *cloverPair) auth(t *testing.T, query, body string) testsupport.Answer {
	t.Helper()
	return testsupport.CallJSON(t, "POST", p.clientURL+"/auth?"+query, body)
}

// accepted reports whether the client takes token as its Clover user: the
// user sees their own mirror record through PocketBase's API.
func (p *cloverPair) accepted(t *testing.T, token string) bool {
	t.Helper()
	answer := testsupport.CallJSON(t, "GET", p.clientURL+"/api/collections/clover_users/records", "", "Authorization", "Bearer "+token)
	items, _ := answer.Body["items"].([]any)
	return answer.Status == 200 && len(items) == 1
}

func kidOf(t *testing.T, token string) string {
	t.Helper()
	header, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	var decoded struct {
		Kid string `json:"kid"`
	}
	if err != nil || json.Unmarshal(header, &decoded) != nil {
		t.Fatalf("not a JWT: %s", token)
	}
	return decoded.Kid
}

func TestACloverServerAndAHaptaClient(t *testing.T) {
	p := startCloverPair(t)

	// a role, and a user who signs up to the tenant and gets it
	role := p.asSuperuser(t, "POST", "/api/collections/tenant_roles/records",
		`{"tenant": "`+p.tenantID+`", "name": "editor", "security_level": 30}`).Body["id"].(string)
	chief := p.asSuperuser(t, "POST", "/api/collections/tenant_roles/records",
		`{"tenant": "`+p.tenantID+`", "name": "chief", "security_level": 70}`).Body["id"].(string)
	signup := testsupport.CallJSON(t, "POST", p.serverURL+"/clover/v1/auth/signup",
		`{"email": "ann@example.com", "password": "ann-password-1", "passwordConfirm": "ann-password-1"}`,
		"Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(p.tenantID+":"+p.secret)))
	if signup.Status != 201 {
		t.Fatalf("signup: %d %s", signup.Status, signup.Raw)
	}
	memberships := p.asSuperuser(t, "GET", "/api/collections/tenant_members/records", "").Body["items"].([]any)
	membership := memberships[0].(map[string]any)["id"].(string)
	p.asSuperuser(t, "PATCH", "/api/collections/tenant_members/records/"+membership, `{"roles": ["`+role+`"]}`)

	// a password login through the client: the tenant, roles and clearance in the principal
	ann := `{"emailOrUsername": "ann@example.com", "password": "ann-password-1"}`
	login := p.auth(t, "type=password", ann)
	principal := login.Object("principal")
	if login.Status != 200 || principal["tenantId"] != p.tenantID || principal["highestClearance"] != 30.0 || principal["strategy"] != "clover" {
		t.Fatalf("password login: %d %s", login.Status, login.Raw)
	}
	if !p.accepted(t, login.Body["token"].(string)) {
		t.Fatal("the client does not accept its Clover token")
	}

	// a role changed on the server shows after the next refresh
	p.asSuperuser(t, "PATCH", "/api/collections/tenant_members/records/"+membership, `{"roles": ["`+role+`", "`+chief+`"]}`)
	refreshed := p.auth(t, "type=refresh", `{"refreshToken": "`+login.Body["refreshToken"].(string)+`"}`)
	if refreshed.Status != 200 || refreshed.Object("principal")["highestClearance"] != 70.0 {
		t.Fatalf("refresh: %d %s", refreshed.Status, refreshed.Raw)
	}

	// a reused refresh token revokes its family: the newest refresh token too
	if reuse := p.auth(t, "type=refresh", `{"refreshToken": "`+login.Body["refreshToken"].(string)+`"}`); reuse.Status != 401 {
		t.Fatalf("a reused refresh token: %d %s", reuse.Status, reuse.Raw)
	}
	if newest := p.auth(t, "type=refresh", `{"refreshToken": "`+refreshed.Body["refreshToken"].(string)+`"}`); newest.Status != 401 {
		t.Fatalf("the newest refresh token of a revoked family: %d %s", newest.Status, newest.Raw)
	}

	// a revoked token is refused
	revoked := p.auth(t, "type=password", ann).Body["token"].(string)
	if logout := p.auth(t, "type=logout", `{"token": "`+revoked+`"}`); logout.Status != 204 {
		t.Fatalf("logout: %d %s", logout.Status, logout.Raw)
	}
	if p.accepted(t, revoked) {
		t.Fatal("the client accepts a revoked token")
	}

	// keys rotate: the old token verifies until it expires, new ones use the new key
	before := p.auth(t, "type=password", ann).Body["token"].(string)
	rotate := start(t, p.serverDir, nil, "--dev=false", "clover", "rotate-keys")
	if code := rotate.waitExit(t); code != 0 || !strings.Contains(rotate.output.String(), "2 keys published") {
		t.Fatalf("rotate-keys: exit %d:\n%s", code, rotate.output)
	}
	after := p.auth(t, "type=password", ann)
	if after.Status != 200 || kidOf(t, after.Body["token"].(string)) == kidOf(t, before) {
		t.Fatalf("login after the rotation: %d %s", after.Status, after.Raw)
	}
	if !p.accepted(t, before) || !p.accepted(t, after.Body["token"].(string)) {
		t.Fatal("a token is refused after the rotation")
	}

	// OTP, and MFA (password then OTP), the code read from the server's mail
	p.asSuperuser(t, "PATCH", "/api/collections/users", `{"otp": {"enabled": true}, "mfa": {"enabled": true}}`)
	first := p.auth(t, "type=password", ann)
	mfaID, _ := first.Body["mfaId"].(string)
	if first.Status != 401 || mfaID == "" {
		t.Fatalf("first factor: %d %s", first.Status, first.Raw)
	}
	otp := p.auth(t, "type=otp", `{"email": "ann@example.com"}`)
	if otp.Status != 200 {
		t.Fatalf("requesting the code: %d %s", otp.Status, otp.Raw)
	}
	code := p.mailedCode(t)
	second := p.auth(t, "type=mfa", `{"mfaId": "`+mfaID+`", "otpId": "`+otp.Body["otpId"].(string)+`", "code": "`+code+`"}`)
	if second.Status != 200 || second.Object("principal")["highestClearance"] != 70.0 || !p.accepted(t, second.Body["token"].(string)) {
		t.Fatalf("MFA login: %d %s", second.Status, second.Raw)
	}
}

// mailedCode waits for the server's OTP mail and reads its code.
func (p *cloverPair) mailedCode(t *testing.T) string {
	t.Helper()
	code := regexp.MustCompile(`<strong>([0-9A-Za-z]+)</strong>`)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		mail, err := os.ReadFile(filepath.Join(p.serverDir, "pb_data", "last_mail.html"))
		if m := code.FindSubmatch(mail); err == nil && m != nil {
			return string(m[1])
		}
	}
	t.Fatal("the server sent no OTP mail")
	return ""
}
