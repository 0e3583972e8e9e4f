package hapta

import (
	"errors"
	"net/http"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
	"github.com/pocketbase/pocketbase/tools/router"
)

// The routes of PocketBase's endpoints that check a password or an OTP.
const (
	passwordLoginRoute = "POST /api/collections/{collection}/auth-with-password"
	otpLoginRoute      = "POST /api/collections/{collection}/auth-with-otp"
)

// passwordForm and otpForm are PocketBase's forms of those endpoints, with
// the same fields, names and tags, so that the guard reads a body as the
// handler will.
type passwordForm struct {
	Identity      string `form:"identity" json:"identity"`
	Password      string `form:"password" json:"password"`
	IdentityField string `form:"identityField" json:"identityField"`
}

type otpForm struct {
	OTPId    string `form:"otpId" json:"otpId"`
	Password string `form:"password" json:"password"`
}

// middleware guards PocketBase's password and OTP logins on a router: it
// checks the attempt before the handler and counts its outcome after.
func (l *accountLockout) middleware() *hook.Handler[*core.RequestEvent] {
	return &hook.Handler[*core.RequestEvent]{
		Id:       LockoutMiddlewareId,
		Priority: LockoutMiddlewarePriority,
		Func: func(e *core.RequestEvent) error {
			var name loginName
			switch e.Request.Pattern {
			case passwordLoginRoute:
				var form passwordForm
				rereadBody(e, &form)
				name = loginName{identity: form.Identity, identityField: form.IdentityField}
			case otpLoginRoute:
				var form otpForm
				rereadBody(e, &form)
				name = loginName{otp: true, otpID: form.OTPId}
			default:
				return e.Next()
			}

			var handlerErr error
			err := l.guard(e.App, e.Request.PathValue("collection"), name, e.RealIP(), func() outcome {
				handlerErr = e.Next()
				return handlerOutcome(e, handlerErr)
			})
			var locked *LockedOutError
			if errors.As(err, &locked) {
				e.Response.Header().Set("Retry-After", locked.retryAfterSeconds())
				return apis.NewTooManyRequestsError(locked.Error(), nil)
			}
			return handlerErr
		},
	}
}

// rereadBody binds the body into form as PocketBase's handler will, then
// rewinds it to its start, so that the handler reads what the guard read
// (BindBody rewinds only after a JSON success; PocketBase's own MFA check
// relies on the same rereadable body). A body that does not bind leaves
// form (partly) empty: it names the empty identity, guarded like any
// unknown one, and the handler fails to read it too.
func rereadBody(e *core.RequestEvent, form any) {
	_ = e.BindBody(form)
	if body, ok := e.Request.Body.(router.Rereader); ok {
		body.Reread()
	}
}

// guard runs login, an attempt that names an account of the collection
// (a name in any letter case, or an id), from address, unless the lockout
// refuses it. Outside an auth collection it just runs: PocketBase answers
// 404 there and checks no credential.
func (l *accountLockout) guard(app core.App, collection string, name loginName, address string, login func() outcome) error {
	c, err := app.FindCachedCollectionByNameOrId(collection)
	if err != nil || !c.IsAuth() {
		login()
		return nil
	}
	return l.attempt(name.account(app, c), address, login)
}

// callerAddress is the client address PocketBase's RealIP gives a login
// that Authenticate runs for caller on its internal router (whose default
// address is loopback).
func callerAddress(app core.App, caller Caller) string {
	request := &http.Request{RemoteAddr: caller.RemoteAddr, Header: caller.Header}
	if request.RemoteAddr == "" {
		request.RemoteAddr = "127.0.0.1:0"
	}
	e := &core.RequestEvent{App: app}
	e.Request = request
	return e.RealIP()
}
