package hapta

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/plugins/hapta/internal/inproc"
)

// The authentication strategies, also the Strategy of the principal they
// produce.
const (
	StrategyPassword = "password"
	StrategyOTP      = "otp"
	StrategyOAuth2   = "oauth2"
)

// Authenticator logs users in with password, OTP and OAuth2, and completes
// MFA with a second factor. It runs PocketBase's own auth endpoints in
// process, so every auth collection's settings (enabled methods, identity
// fields, MFA, OTP length and duration, OAuth2 providers, auth rule), its
// hooks and its rate limits apply exactly as on PocketBase's REST API, and
// the answer is PocketBase's standard token and record. On top of them it
// adds the lockout per account (PocketBase limits per IP) and keeps OAuth2's
// state and PKCE verifier on the server. Get it from Services; the zero
// Authenticator (outside PocketBase) answers ErrOutsidePocketBase.
//
// With Clover configured (Clover_Tenant_ID), the logins go to the Clover
// server's PocketBase instead, and the user gets Clover tokens (see
// auth_clover.go); Direct logs in with this application's PocketBase all
// the same, and ViaClover insists on Clover.
type Authenticator struct {
	app      core.App
	internal *inproc.Router
	lockout  *accountLockout
	oauth2   oauth2StateStore

	clover        *cloverLink // nil while Clover is not configured (or not started)
	direct        bool        // PocketBase even when Clover is configured
	requireClover bool        // Clover or a 400
}

// Direct is the authenticator that logs in with this application's own
// PocketBase, whether Clover is configured or not.
func (a *Authenticator) Direct() *Authenticator {
	direct := *a
	direct.direct, direct.requireClover = true, false
	return &direct
}

// ViaClover is the authenticator that logs in through Clover: without
// Clover configured its logins answer 400 "Clover is not configured".
func (a *Authenticator) ViaClover() *Authenticator {
	via := *a
	via.direct, via.requireClover = false, true
	return &via
}

// viaClover reports whether the logins go to the Clover server; err is
// the answer of a login that needs Clover without it.
func (a *Authenticator) viaClover() (bool, error) {
	if a.app == nil {
		return false, ErrOutsidePocketBase
	}
	if a.requireClover && a.clover == nil {
		return false, errCloverOff
	}
	return a.clover != nil && !a.direct, nil
}

// Refresh uses a Clover refresh token: new tokens with the roles as they
// are now (the refresh token rotates).
func (a *Authenticator) Refresh(caller Caller, refreshToken string) (*AuthResult, error) {
	if _, err := a.ViaClover().viaClover(); err != nil {
		return nil, err
	}
	return a.clover.refresh(caller, refreshToken)
}

// Revoke revokes a Clover token (a refresh token with every token of its
// sign-in) at the server; this application refuses it at once.
func (a *Authenticator) Revoke(token string) error {
	if _, err := a.ViaClover().viaClover(); err != nil {
		return err
	}
	return a.clover.revoke(token)
}

// Caller is the client on whose behalf a login runs: its address and
// headers count for PocketBase's rate limits, trusted proxy headers and
// auth alerts, and its headers reach OnPrincipal (plugins/clover reads the
// tenant from X-Tenant-ID). The zero Caller is a local call from Go.
type Caller struct {
	RemoteAddr string
	Header     http.Header
}

// CallerOf is the client of a hapta request.
// A Context without a request (built by hand) has the zero Caller.
func CallerOf(ctx *Context) Caller {
	if ctx.Event == nil || ctx.Event.Request == nil {
		return Caller{}
	}
	return Caller{RemoteAddr: ctx.Event.Request.RemoteAddr, Header: ctx.Event.Request.Header}
}

// AuthResult is a login's outcome. When the collection requires MFA and
// this was the first factor, IsAuthenticated is false and MFAID is the id
// to send with the second factor.
type AuthResult struct {
	IsAuthenticated bool           `json:"isAuthenticated"`
	Token           string         `json:"token,omitempty"`
	RefreshToken    string         `json:"refreshToken,omitempty"` // Clover logins only
	Record          map[string]any `json:"record,omitempty"`
	Meta            map[string]any `json:"meta,omitempty"`
	MFAID           string         `json:"mfaId,omitempty"`
	Principal       Principal      `json:"principal"`
}

// PasswordLogin is the password strategy's input.
type PasswordLogin struct {
	Collection string // the auth collection, "users" when empty
	Identity   string // email or another identity field of the collection (username)
	Password   string
	MFAID      string // the first factor's MFAID, when this is the second
}

// OTPLogin is the one-time password strategy's input.
type OTPLogin struct {
	Collection string
	OTPID      string // from RequestOTP
	Code       string // the code mailed to the user
	MFAID      string
}

// OAuth2Login is the OAuth2 strategy's input: the code and state the
// provider sent back to RedirectURL.
type OAuth2Login struct {
	Collection  string
	Provider    string
	Code        string
	State       string
	RedirectURL string
	CreateData  map[string]any // fields of a record created on first login
	MFAID       string
}

// OAuth2Start is where to send the user: AuthURL, with State to check.
type OAuth2Start struct {
	AuthURL string `json:"authUrl"`
	State   string `json:"state"`
}

const defaultAuthCollection = "users"

// Password logs in with an identity and a password.
func (a *Authenticator) Password(caller Caller, login PasswordLogin) (*AuthResult, error) {
	if a.app == nil {
		return nil, ErrOutsidePocketBase
	}
	collection := collectionOr(login.Collection)
	name := loginName{identity: login.Identity}
	return a.withLockout(caller, collection, name, StrategyPassword, func() (int, []byte, error) {
		return a.call(caller, http.MethodPost, collection, "auth-with-password", login.MFAID,
			map[string]any{"identity": login.Identity, "password": login.Password})
	})
}

// RequestOTP mails a one-time password to email and returns the id to log
// in with. An unknown email gets an id too, as on PocketBase's endpoint, so
// that the answer does not tell which emails have accounts.
func (a *Authenticator) RequestOTP(caller Caller, collection, email string) (otpID string, err error) {
	if a.app == nil {
		return "", ErrOutsidePocketBase
	}
	status, body, err := a.call(caller, http.MethodPost, collectionOr(collection), "request-otp", "",
		map[string]any{"email": email})
	if err != nil {
		return "", err
	}
	if status != http.StatusOK {
		return "", inproc.DecodeAPIError(status, body)
	}
	var answer struct {
		OTPID string `json:"otpId"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return "", err
	}
	return answer.OTPID, nil
}

// OTP logs in with a mailed one-time password.
func (a *Authenticator) OTP(caller Caller, login OTPLogin) (*AuthResult, error) {
	if a.app == nil {
		return nil, ErrOutsidePocketBase
	}
	collection := collectionOr(login.Collection)
	name := loginName{otp: true, otpID: login.OTPID}
	return a.withLockout(caller, collection, name, StrategyOTP, func() (int, []byte, error) {
		return a.call(caller, http.MethodPost, collection, "auth-with-otp", login.MFAID,
			map[string]any{"otpId": login.OTPID, "password": login.Code})
	})
}

// StartOAuth2 begins the authorization code flow with PKCE for a provider
// configured on the collection. The state and verifier stay on the server
// for OAuth2StateLifetime; the user goes to AuthURL.
func (a *Authenticator) StartOAuth2(caller Caller, collection, provider, redirectURL string) (*OAuth2Start, error) {
	if a.app == nil {
		return nil, ErrOutsidePocketBase
	}
	collection = collectionOr(collection)
	if err := checkRedirectURL(redirectURL); err != nil {
		return nil, err
	}
	status, body, err := a.call(caller, http.MethodGet, collection, "auth-methods", "", nil)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, inproc.DecodeAPIError(status, body)
	}
	var methods struct {
		OAuth2 struct {
			Enabled   bool `json:"enabled"`
			Providers []struct {
				Name         string `json:"name"`
				State        string `json:"state"`
				AuthURL      string `json:"authURL"`
				CodeVerifier string `json:"codeVerifier"`
			} `json:"providers"`
		} `json:"oauth2"`
	}
	if err := json.Unmarshal(body, &methods); err != nil {
		return nil, err
	}
	for _, p := range methods.OAuth2.Providers {
		if p.Name == provider && methods.OAuth2.Enabled {
			if err := a.oauth2.put(p.State, oauth2State{collection: collection, provider: provider, verifier: p.CodeVerifier, redirectURL: redirectURL}); err != nil {
				return nil, err
			}
			return &OAuth2Start{AuthURL: p.AuthURL + url.QueryEscape(redirectURL), State: p.State}, nil
		}
	}
	return nil, apis.NewBadRequestError(fmt.Sprintf("The collection has no OAuth2 provider %q enabled.", provider), nil)
}

// OAuth2 completes the flow: the state must be one StartOAuth2 issued, for
// the same provider and redirect URL, used once and not expired.
func (a *Authenticator) OAuth2(caller Caller, login OAuth2Login) (*AuthResult, error) {
	if a.app == nil {
		return nil, ErrOutsidePocketBase
	}
	state, ok := a.oauth2.take(login.State)
	if !ok || state.provider != login.Provider || state.redirectURL != login.RedirectURL ||
		(login.Collection != "" && state.collection != login.Collection) {
		return nil, apis.NewBadRequestError("Invalid or expired OAuth2 state.", nil)
	}
	body := map[string]any{
		"provider": login.Provider, "code": login.Code, "codeVerifier": state.verifier, "redirectURL": login.RedirectURL,
	}
	if login.CreateData != nil {
		body["createData"] = login.CreateData
	}
	status, answer, err := a.call(caller, http.MethodPost, state.collection, "auth-with-oauth2", login.MFAID, body)
	if err != nil {
		return nil, err
	}
	return a.result(caller, status, answer, StrategyOAuth2)
}

// withLockout runs a credential check under the lockout's guard, the one
// that guards PocketBase's endpoints on the app's router (the internal
// router does not carry it: each attempt is counted once).
func (a *Authenticator) withLockout(caller Caller, collection string, name loginName, strategy string, check func() (int, []byte, error)) (*AuthResult, error) {
	var status int
	var body []byte
	var err error
	locked := a.lockout.guard(a.app, collection, name, callerAddress(a.app, caller), func() outcome {
		if status, body, err = check(); err != nil {
			return outcomeNone
		}
		return answerOutcome(status, body)
	})
	if locked != nil {
		return nil, locked
	}
	if err != nil {
		return nil, err
	}
	return a.result(caller, status, body, strategy)
}

// result reads PocketBase's auth answer.
func (a *Authenticator) result(caller Caller, status int, body []byte, strategy string) (*AuthResult, error) {
	var answer struct {
		Token  string         `json:"token"`
		Record map[string]any `json:"record"`
		Meta   map[string]any `json:"meta"`
		MFAID  string         `json:"mfaId"`
	}
	if status == http.StatusOK || status == http.StatusUnauthorized {
		if err := json.Unmarshal(body, &answer); err != nil {
			return nil, err
		}
	}
	switch {
	case status == http.StatusUnauthorized && answer.MFAID != "":
		return &AuthResult{MFAID: answer.MFAID}, nil
	case status != http.StatusOK:
		return nil, inproc.DecodeAPIError(status, body)
	}

	if clover, _ := a.viaClover(); clover {
		return a.clover.signIn(caller, answer.Token, answer.Record)
	}
	record, err := a.app.FindAuthRecordByToken(answer.Token, core.TokenTypeAuth)
	if err != nil {
		return nil, err
	}
	principal, err := newPrincipal(a.app, record, strategy, answer.Token, caller.Header)
	if err != nil {
		return nil, err
	}
	return &AuthResult{IsAuthenticated: true, Token: answer.Token, Record: answer.Record, Meta: answer.Meta, Principal: principal}, nil
}

// call sends a JSON body to one of the collection's auth endpoints (action,
// such as "auth-with-password"), in process; mfaID continues an MFA login.
// Through Clover it is the server's endpoint, over HTTP.
func (a *Authenticator) call(caller Caller, method, collection, action, mfaID string, body any) (int, []byte, error) {
	path := "/api/collections/" + url.PathEscape(collection) + "/" + action
	if mfaID != "" {
		path += "?mfaId=" + url.QueryEscape(mfaID)
	}
	clover, err := a.viaClover()
	if err != nil {
		return 0, nil, err
	}
	if clover {
		if collection != defaultAuthCollection { // never _superusers (by name or id) through Clover
			return 0, nil, apis.NewBadRequestError("Through Clover, users sign in to the server's users collection only.", nil)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		status, answer, err := a.clover.client.PocketBase(ctx, method, path, body)
		if err != nil {
			return 0, nil, a.clover.answerError(err)
		}
		return status, answer, nil
	}
	return a.internal.Call(caller.RemoteAddr, caller.Header, nil, method, path, body)
}

func collectionOr(collection string) string {
	if collection == "" {
		return defaultAuthCollection
	}
	return collection
}

func checkRedirectURL(raw string) error {
	if problem := checkOptionalURL(raw); problem != "" || raw == "" {
		return apis.NewBadRequestError("The redirect URL must be an absolute http(s) URL.", nil)
	}
	return nil
}

// OAuth2StateLifetime is how long a started OAuth2 login may take.
const OAuth2StateLifetime = 10 * time.Minute

type oauth2State struct {
	collection, provider, verifier, redirectURL string
	expires                                     time.Time
}

// oauth2StateStore keeps started OAuth2 logins until they complete or
// expire: in memory, or on NATS KV in a cluster (cluster_shared_state.go).
type oauth2StateStore interface {
	put(state string, value oauth2State) error
	// take returns and forgets a state: each is good for one completion
	take(state string) (oauth2State, bool)
}

// oauth2States keeps started OAuth2 logins in memory.
type oauth2States struct {
	mu     sync.Mutex
	states map[string]oauth2State
}

// maxOAuth2States bounds the memory that unauthenticated starts can take.
const maxOAuth2States = 10000

func (s *oauth2States) put(state string, value oauth2State) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for key, old := range s.states { // forget abandoned logins
		if now.After(old.expires) {
			delete(s.states, key)
		}
	}
	if len(s.states) >= maxOAuth2States {
		return apis.NewTooManyRequestsError("Too many OAuth2 logins in progress; try again later.", nil)
	}
	value.expires = now.Add(OAuth2StateLifetime)
	s.states[state] = value
	return nil
}

// take returns and forgets a state: each is good for one completion.
func (s *oauth2States) take(state string) (oauth2State, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	value, ok := s.states[state]
	delete(s.states, state)
	if !ok || time.Now().After(value.expires) {
		return oauth2State{}, false
	}
	return value, true
}
