package clover

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// A sign-in belongs to the browser that first opened its login page: a
// cookie holds a random value whose hash the sign-in keeps, and only that
// browser may complete it. Someone who learns another's sign-in id can
// neither open its page nor finish it with their own account (login CSRF).

// browserCookie is the cookie of one sign-in, so that sign-ins in several
// tabs do not replace each other's.
func browserCookie(authRequestID string) string {
	return "clover_signin_" + hashSecret(authRequestID)[:16]
}

// bindBrowser binds an unbound sign-in to this browser, or checks that it
// is this browser's.
func (s *server) bindBrowser(e *core.RequestEvent, request *authRequest) error {
	if request.Browser != "" {
		return s.checkBrowser(e, request)
	}
	secret := rand.Text()
	request.Browser = hashSecret(secret)
	data, err := json.Marshal(request)
	if err != nil {
		return err
	}
	err = updateOne(s.app, "UPDATE {{"+authRequestsTable+"}} SET [[data]] = {:data} "+
		"WHERE [[id]] = {:id} AND [[done]] = 0 AND [[consumed]] = 0 AND json_extract([[data]], '$.browser') = ''",
		dbx.Params{"id": request.ID, "data": string(data)}, e.BadRequestError(errOtherBrowser, nil)) // none: another browser opened it first
	if err != nil {
		return err
	}
	http.SetCookie(e.Response, &http.Cookie{
		Name: browserCookie(request.ID), Value: secret, Path: ServerPath + LoginPath,
		MaxAge: int(authRequestLifetime / time.Second), HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: strings.HasPrefix(s.issuer(), "https://"),
	})
	return nil
}

// checkBrowser refuses a request from a browser other than the sign-in's.
func (s *server) checkBrowser(e *core.RequestEvent, request *authRequest) error {
	cookie, err := e.Request.Cookie(browserCookie(request.ID))
	if err != nil || request.Browser == "" || subtle.ConstantTimeCompare([]byte(hashSecret(cookie.Value)), []byte(request.Browser)) != 1 {
		return e.BadRequestError(errOtherBrowser, nil)
	}
	return nil
}

const errOtherBrowser = "This sign-in was started in another browser; start again from the application."
