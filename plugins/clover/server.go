package clover

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/rs/cors"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/postr-inc/hapta/plugins/clover/internal/signing"
	"github.com/postr-inc/hapta/plugins/hapta"
)

// ServerPath is where a Clover server answers; its issuer is the app's
// URL (PocketBase's Application URL setting) followed by ServerPath.
const ServerPath = "/clover/v1"

// The endpoints of a Clover server, under ServerPath.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	KeysPath      = "/.well-known/jwks.json"
	TokenPath     = "/oauth/token"
	LoginPath     = "/login"
	SignupPath    = "/auth/signup"
	RevokedPath   = "/oauth/revoked"
)

// server is a Clover identity server: zitadel's OpenID provider over the
// app's tenants, users and memberships, mounted on PocketBase's router.
type server struct {
	app      core.App
	storage  *storage
	provider *op.Provider
}

func newServer(app core.App, config Config) (*server, error) {
	keys, err := signing.Open(app, SignedTokenLifetime)
	if err != nil {
		return nil, err
	}
	if _, err := keys.Active(); err != nil { // published from the start
		return nil, err
	}
	cryptoKey, err := serverSecret(app, "code_key")
	if err != nil {
		return nil, err
	}
	s := &server{app: app}
	s.storage = &storage{app: app, users: config.UsersCollection, keys: keys, loginURL: s.loginURL}
	providerConfig := &op.Config{CodeMethodS256: true, GrantTypeRefreshToken: true}
	s.provider, err = op.NewProvider(providerConfig, s.storage, s.issuerFunc,
		op.WithCustomKeysEndpoint(op.NewEndpoint(strings.TrimPrefix(KeysPath, "/"))),
		op.WithLogger(app.Logger().With("plugin", "clover")),
		// the codes, encrypted with a key kept in the database (codes survive
		// a restart), with AES-GCM only: the library's default also decrypts
		// with unauthenticated AES-CFB, which turns any string, a refresh
		// token say, into garbage now and then taken for a token id
		op.WithCrypto(op.NewAES256GCMCrypto(cryptoKey, "clover")),
		// PocketBase's CORS middleware answers for every route: the
		// library's own (any origin, with credentials) allows nothing
		op.WithCORSOptions(&cors.Options{AllowOriginFunc: func(string) bool { return false }}),
	)
	if err != nil {
		return nil, fmt.Errorf("clover: the identity server: %w", err)
	}
	return s, nil
}

// issuer is the app's configured URL followed by ServerPath, never a
// Host header a client sent.
func (s *server) issuer() string {
	return strings.TrimRight(s.app.Settings().Meta.AppURL, "/") + ServerPath
}

func (s *server) issuerFunc(bool) (op.IssuerFromRequest, error) {
	return func(*http.Request) string { return s.issuer() }, nil
}

func (s *server) loginURL(authRequestID string) string {
	return s.issuer() + LoginPath + "?authRequestID=" + url.QueryEscape(authRequestID)
}

// mount adds the server's routes: ours first (more specific patterns win),
// then the library's under the prefix.
func (s *server) mount(se *core.ServeEvent) {
	if _, err := url.ParseRequestURI(s.issuer()); err != nil || !strings.HasPrefix(s.issuer(), "http") {
		se.App.Logger().Warn("clover: the Application URL setting is not an absolute URL; set it to this server's public URL", "issuer", s.issuer())
	}
	routes := se.Router.Group(ServerPath)
	routes.GET(DiscoveryPath, s.discovery)
	routes.POST(TokenPath, s.token)
	routes.GET(LoginPath, s.loginPage)
	routes.POST(LoginPath, s.completeLogin)
	routes.POST(SignupPath, s.signup)
	routes.GET(RevokedPath, s.revoked)
	// not offered: the callback would hand a finished sign-in's code to
	// whoever knows its id (completeLogin answers the code instead), and
	// end_session would end sessions with an unauthenticated ID token hint
	for _, path := range []string{"/authorize/callback", "/end_session"} {
		routes.Any(path, func(e *core.RequestEvent) error { return e.NotFoundError("", nil) })
	}
	routes.GET("/tenants/{id}", s.tenant)
	routes.Any("/{path...}", apis.WrapStdHandler(http.StripPrefix(ServerPath, s.provider)))
}

// discovery is the library's document with the grants Clover offers.
func (s *server) discovery(e *core.RequestEvent) error {
	ctx := op.ContextWithIssuer(e.Request.Context(), s.issuer())
	document := op.CreateDiscoveryConfig(ctx, s.provider, s.storage)
	document.GrantTypesSupported = []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken, oidc.GrantTypeClientCredentials, GrantTypePassword, GrantTypeTokenExchange}
	document.ResponseTypesSupported = []string{string(oidc.ResponseTypeCode)}
	document.TokenEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic}
	document.IntrospectionEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic}
	document.RevocationEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic}
	document.EndSessionEndpoint = ""
	return e.JSON(http.StatusOK, document)
}

// token answers the first-party grants itself (the library has neither)
// and hands every other grant to the library.
func (s *server) token(e *core.RequestEvent) error {
	switch e.Request.PostFormValue("grant_type") {
	case string(GrantTypePassword), string(GrantTypeTokenExchange):
		s.firstPartyGrant(e.Response, e.Request.WithContext(op.ContextWithIssuer(e.Request.Context(), s.issuer())))
		return nil
	}
	http.StripPrefix(ServerPath, s.provider).ServeHTTP(e.Response, e.Request)
	return nil
}

// serverSecret is a random 32-byte secret of the server, made once and
// kept in the database.
func serverSecret(app core.App, name string) ([32]byte, error) {
	var key [32]byte
	fresh := make([]byte, 32)
	rand.Read(fresh)
	_, err := app.DB().NewQuery("INSERT INTO {{" + serverSecretsTable + "}} ([[name]], [[value]]) VALUES ({:name}, {:value}) ON CONFLICT DO NOTHING").
		Bind(dbx.Params{"name": name, "value": hex.EncodeToString(fresh)}).Execute()
	if err != nil {
		return key, err
	}
	var stored string
	err = app.DB().NewQuery("SELECT [[value]] FROM {{" + serverSecretsTable + "}} WHERE [[name]] = {:name}").Bind(dbx.Params{"name": name}).Row(&stored)
	if errors.Is(err, sql.ErrNoRows) {
		return key, fmt.Errorf("clover: the server secret %s is missing", name)
	}
	if err != nil {
		return key, err
	}
	decoded, err := hex.DecodeString(stored)
	if err != nil || len(decoded) != len(key) {
		return key, fmt.Errorf("clover: the server secret %s is damaged", name)
	}
	copy(key[:], decoded)
	return key, nil
}

// rotateOnSchedule makes a new signing key when the active one is older
// than every.
func rotateOnSchedule(keys *signing.Keys, every time.Duration) error {
	active, err := keys.Active()
	if err != nil {
		return err
	}
	if time.Since(active.Created) < every {
		return nil
	}
	_, err = keys.Rotate()
	return err
}

// serve starts the identity server on the app being served: its routes,
// the scheduled key rotation and the clean-up of expired sign-ins and
// tokens.
func serve(se *core.ServeEvent, config Config) error {
	if !hapta.Registered(se.App) { // the password grant runs PocketBase's sign-in through it
		return errors.New("clover: serving Clover needs the hapta plugin: register it too")
	}
	s, err := newServer(se.App, config)
	if err != nil {
		return err
	}
	s.mount(se)
	se.App.Cron().MustAdd("__cloverMaintenance", "*/10 * * * *", func() {
		if err := rotateOnSchedule(s.storage.keys, config.KeyRotation); err != nil {
			se.App.Logger().Error("clover: scheduled key rotation failed", "error", err)
		}
		if err := s.storage.deleteExpired(); err != nil {
			se.App.Logger().Error("clover: deleting expired tokens failed", "error", err)
		}
	})
	return nil
}
