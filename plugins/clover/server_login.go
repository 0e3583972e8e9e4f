package clover

import (
	"crypto/rand"
	_ "embed"
	"html/template"
	"net/http"

	"github.com/pocketbase/pocketbase/core"
	"github.com/zitadel/oidc/v3/pkg/op"
)

//go:embed assets/login.html
var loginHTML string

var loginTemplate = template.Must(template.New("login").Parse(loginHTML))

// loginPage is where /authorize sends the browser: a page that signs the
// user in with PocketBase's own auth endpoints (password, OTP, OAuth2, MFA
// as the users collection allows) and hands the PocketBase token to
// completeLogin.
func (s *server) loginPage(e *core.RequestEvent) error {
	query := e.Request.URL.Query()
	id := query.Get("authRequestID")
	if id == "" && query.Get("code") != "" { // back from an OAuth2 provider: the page knows the sign-in
		return s.renderLogin(e, "", "")
	}
	request, err := s.storage.findAuthRequest("[[id]] = {:id} AND [[done]] = 0 AND [[consumed]] = 0", map[string]any{"id": id})
	if err != nil {
		return e.BadRequestError(errSignInGone.Error(), nil)
	}
	tenant, err := e.App.FindRecordById(TenantsCollection, request.Tenant)
	if err != nil {
		return e.BadRequestError(errSignInGone.Error(), nil)
	}
	if err := s.bindBrowser(e, request); err != nil {
		return err
	}
	return s.renderLogin(e, id, tenant.GetString("name"))
}

func (s *server) renderLogin(e *core.RequestEvent, authRequestID, tenantName string) error {
	nonce := rand.Text()
	e.Response.Header().Set("Content-Type", "text/html; charset=utf-8")
	e.Response.Header().Set("Cache-Control", "no-store")
	// only the page's own script and style run, it talks only to this
	// server, and no one may frame it
	e.Response.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'; style-src 'nonce-"+nonce+"'; "+
		"connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
	return loginTemplate.Execute(e.Response, map[string]any{
		"Nonce":         nonce,
		"AuthRequestID": authRequestID,
		"Tenant":        tenantName,
		"Users":         s.storage.users,
		"Complete":      ServerPath + LoginPath,
	})
}

// completeLogin finishes a sign-in: the body names the pending sign-in and
// carries the PocketBase auth token of the user who signed in on the
// page, from the browser the sign-in is bound to; the answer is where the
// browser goes next: the tenant's redirect URI with the code.
func (s *server) completeLogin(e *core.RequestEvent) error {
	var body struct {
		AuthRequestID string `json:"authRequestID"`
		Token         string `json:"token"`
	}
	if err := e.BindBody(&body); err != nil || body.AuthRequestID == "" || body.Token == "" {
		return e.BadRequestError("Send the authRequestID and the token of the signed-in user.", nil)
	}
	user, err := e.App.FindAuthRecordByToken(body.Token, core.TokenTypeAuth)
	if err != nil || user.Collection().Name != s.storage.users {
		return e.UnauthorizedError("The sign-in token is invalid or expired.", nil)
	}
	request, err := s.storage.findAuthRequest("[[id]] = {:id} AND [[done]] = 0 AND [[consumed]] = 0", map[string]any{"id": body.AuthRequestID})
	if err != nil {
		return e.BadRequestError(errSignInGone.Error(), nil)
	}
	if err := s.checkBrowser(e, request); err != nil {
		return err
	}
	if _, member, err := FindMembership(e.App, request.Tenant, user.Id); err != nil {
		return err
	} else if !member {
		return e.ForbiddenError("You are not a member of this application's tenant.", nil)
	}
	if err := s.storage.completeAuthRequest(request, user); err != nil {
		return e.BadRequestError(err.Error(), nil)
	}
	// the code goes to the browser that signed in, and only to it: the
	// library's callback, which would give it to whoever knows the
	// request's id, is not served
	request.done = true
	answer := &redirectCapture{header: http.Header{}}
	op.AuthResponse(request, s.provider, answer, e.Request.WithContext(op.ContextWithIssuer(e.Request.Context(), s.issuer())))
	location := answer.header.Get("Location")
	if answer.status != http.StatusFound && answer.status != http.StatusSeeOther || location == "" {
		return e.InternalServerError("The sign-in could not be completed.", nil)
	}
	return e.JSON(http.StatusOK, map[string]string{"redirect": location})
}

// redirectCapture keeps the redirect the library answers with.
type redirectCapture struct {
	header http.Header
	status int
}

func (c *redirectCapture) Header() http.Header         { return c.header }
func (c *redirectCapture) WriteHeader(status int)      { c.status = status }
func (c *redirectCapture) Write(p []byte) (int, error) { return len(p), nil }
