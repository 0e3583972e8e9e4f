package clover_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"
	"golang.org/x/oauth2"

	"github.com/postr-inc/hapta/internal/testsupport"
	"github.com/postr-inc/hapta/plugins/clover"
)

// waitForRedirect waits until the browser is at the tenant's redirect URI
// and returns the code it carries.
func (s *identityServer) waitForRedirect(t *testing.T, ctx context.Context) string {
	t.Helper()
	var at string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var err error
		if at, err = chromedp.Run(ctx, chromedp.Location()); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(at, s.redirect+"?") {
			back, _ := url.Parse(at)
			if back.Query().Get("state") != "browser-state" {
				t.Fatalf("redirected with state %q", back.Query().Get("state"))
			}
			return back.Query().Get("code")
		}
	}
	problem, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("error")))
	t.Fatalf("the browser stayed at %s (page says %q)", at, problem)
	return ""
}

// exchange trades a code for tokens and checks they are bob's.
func (s *identityServer) exchangeFor(t *testing.T, config *oauth2.Config, code, verifier, user string) {
	t.Helper()
	token, err := config.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal("exchange:", err)
	}
	if _, payload := claims(t, token.AccessToken); payload["sub"] != s.users[user] {
		t.Fatalf("the token is not %s's: %v", user, payload)
	}
}

// The login page in a real browser: a password sign-in ends at the
// tenant's redirect URI with a code for the user.
func TestTheLoginPageSignsInWithAPassword(t *testing.T) {
	t.Parallel()
	s := newIdentityServer(t)
	config := s.oauth2Config(s.tenantA)
	verifier := oauth2.GenerateVerifier()
	ctx := testsupport.Browser(t, 30*time.Second)

	err := chromedp.Do(ctx, append([]chromedp.Action[chromedp.Void]{
		chromedp.Navigate(config.AuthCodeURL("browser-state", oauth2.S256ChallengeOption(verifier))),
	}, passwordForm("bob@example.com")...)...)
	if err != nil {
		t.Fatal(err)
	}
	s.exchangeFor(t, config, s.waitForRedirect(t, ctx), verifier, "bob")
}

// With MFA, the page asks for the second factor (an emailed one-time
// code) after the password.
func TestTheLoginPageAsksForTheSecondFactor(t *testing.T) {
	t.Parallel()
	s := newIdentityServer(t)
	mails := s.requireMFA(t)
	config := s.oauth2Config(s.tenantA)
	verifier := oauth2.GenerateVerifier()
	ctx := testsupport.Browser(t, 30*time.Second)

	sent := mails.Count()
	err := chromedp.Do(ctx, append(append([]chromedp.Action[chromedp.Void]{
		chromedp.Navigate(config.AuthCodeURL("browser-state", oauth2.S256ChallengeOption(verifier))),
	}, passwordForm("carol@example.com")...),
		chromedp.WaitVisible(chromedp.CSS(`#otp-request input[name=email]`)),
		chromedp.WaitNotVisible(chromedp.CSS(`#password`)),
		chromedp.SendKeys(chromedp.CSS(`#otp-request input[name=email]`), "carol@example.com"),
		chromedp.Click(chromedp.CSS(`#otp-request button`)),
		chromedp.WaitVisible(chromedp.CSS(`#otp input[name=code]`)),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	code := mails.OTPCode(t, sent)
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#otp input[name=code]`), code),
		chromedp.Click(chromedp.CSS(`#otp button`)),
	); err != nil {
		t.Fatal(err)
	}
	s.exchangeFor(t, config, s.waitForRedirect(t, ctx), verifier, "carol")
}

// OAuth2 on the login page, through a provider configured on the users
// collection: here another Clover server, an OpenID provider like any
// other. bob signs in there, comes back to the login page, and the sign-in
// ends at the tenant's redirect URI with a code for the local bob (linked
// by his verified email).
func TestTheLoginPageSignsInWithOAuth2(t *testing.T) {
	t.Parallel()
	s := newIdentityServer(t)
	s.signInThroughUpstream(t, s.issuer+clover.LoginPath)
	config := s.oauth2Config(s.tenantA)
	verifier := oauth2.GenerateVerifier()
	ctx := testsupport.Browser(t, 30*time.Second)

	err := chromedp.Do(ctx, append([]chromedp.Action[chromedp.Void]{
		chromedp.Navigate(config.AuthCodeURL("browser-state", oauth2.S256ChallengeOption(verifier))),
		chromedp.WaitVisible(chromedp.CSS(`#oauth2 button`)),
		chromedp.Click(chromedp.CSS(`#oauth2 button`)),
	}, passwordForm("bob@example.com")...)...) // on the upstream server's login page
	if err != nil {
		t.Fatal(err)
	}
	s.exchangeFor(t, config, s.waitForRedirect(t, ctx), verifier, "bob")
}

// signInThroughUpstream gives s's users collection an OAuth2 provider:
// another Clover server (returned), where bob has a verified email and
// whose tenant A sends its codes to redirect.
func (s *identityServer) signInThroughUpstream(t *testing.T, redirect string) *identityServer {
	t.Helper()
	upstream := newIdentityServer(t)
	upstream.tenantA.Set(clover.RedirectURIsField, []string{redirect})
	if err := upstream.app.Save(upstream.tenantA); err != nil {
		t.Fatal(err)
	}
	bob, err := upstream.app.FindRecordById("users", upstream.users["bob"])
	if err != nil {
		t.Fatal(err)
	}
	bob.SetVerified(true)
	if err := upstream.app.Save(bob); err != nil {
		t.Fatal(err)
	}
	testsupport.UpdateCollection(t, s.app, "users", func(users *core.Collection) {
		users.OAuth2.Enabled = true
		users.OAuth2.Providers = []core.OAuth2ProviderConfig{{
			Name: "oidc", DisplayName: "Upstream", PKCE: types.Pointer(true),
			ClientId: upstream.tenantA.Id, ClientSecret: upstream.secrets[upstream.tenantA.Id],
			AuthURL: upstream.issuer + "/authorize", TokenURL: upstream.issuer + clover.TokenPath, UserInfoURL: upstream.issuer + "/userinfo",
		}}
	})
	return upstream
}

// passwordForm fills and sends the login page's password form.
func passwordForm(email string) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.WaitVisible(chromedp.CSS(`#password input[name=identity]`)),
		chromedp.SendKeys(chromedp.CSS(`#password input[name=identity]`), email),
		chromedp.SendKeys(chromedp.CSS(`#password input[name=password]`), testPassword),
		chromedp.Click(chromedp.CSS(`#password button`)),
	}
}

// requireMFA turns on OTP and MFA for the server's users and catches its
// mail.
func (s *identityServer) requireMFA(t *testing.T) *testsupport.Mailbox {
	t.Helper()
	mails := testsupport.CatchMail(s.app)
	testsupport.UpdateCollection(t, s.app, "users", func(users *core.Collection) {
		users.OTP.Enabled = true
		users.MFA.Enabled = true
	})
	return mails
}
