// Package cloverclient is a Hapta application's side of a remote Clover
// identity server: discovery, the server's keys, offline verification of
// its access tokens, the token endpoint's grants, revocation, and the
// server's PocketBase auth endpoints, with the server's health. Discovery
// and verification are go-oidc's, the refresh grant golang.org/x/oauth2's.
package cloverclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// KeyRefetchInterval is the least time between two reads of the server's
// keys.
const KeyRefetchInterval = time.Second

// Path is where a Clover server answers, below its URL.
const Path = "/clover/v1"

// PocketBaseTokenType is the subject_token_type of a PocketBase auth token
// of the server's users, exchanged for Clover tokens.
const PocketBaseTokenType = "urn:pocketbase:params:oauth:token-type:auth"

// ErrUnavailable is the error of a server that does not answer (or has not
// answered yet): logins through it answer 503.
var ErrUnavailable = errors.New("clover: the server is unavailable")

// Config locates the application's tenant on a Clover server.
type Config struct {
	ServerURL string // the server's URL, without Path
	TenantID  string
	Secret    string
	Logger    *slog.Logger

	// PollEvery is how often the revoked token ids are read (and the
	// server's health checked); default 10s.
	PollEvery time.Duration
	// Timeout bounds every call to the server; default 10s.
	Timeout time.Duration
}

// Client is one application's client of a Clover server.
type Client struct {
	config Config
	issuer string
	http   *http.Client

	mu        sync.RWMutex
	endpoints *endpoints // nil until discovery succeeded
	tenant    *Tenant    // read once discovery succeeded
	keys      *keySet
	verifier  *oidc.IDTokenVerifier
	health    error
	revoked   map[string]time.Time // jti → expiry, from the server and from this client's revocations

	wake chan struct{}
	stop chan struct{}
	done chan struct{}
}

type endpoints struct {
	Token         string `json:"token_endpoint"`
	Introspection string `json:"introspection_endpoint"`
	Revocation    string `json:"revocation_endpoint"`
	JWKS          string `json:"jwks_uri"`
}

// New is a client that has not contacted the server yet: Start does.
func New(config Config) *Client {
	if config.PollEvery <= 0 {
		config.PollEvery = 10 * time.Second
	}
	if config.Timeout <= 0 {
		config.Timeout = 10 * time.Second
	}
	if config.Logger == nil {
		config.Logger = slog.Default()
	}
	return &Client{
		config:  config,
		issuer:  strings.TrimRight(config.ServerURL, "/") + Path,
		http:    &http.Client{Timeout: config.Timeout},
		health:  ErrUnavailable,
		revoked: map[string]time.Time{},
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
}

// Issuer is the server's issuer URL.
func (c *Client) Issuer() string { return c.issuer }

// TenantID is the application's tenant: the audience of its tokens.
func (c *Client) TenantID() string { return c.config.TenantID }

// Start discovers the server and then keeps reading its revoked token ids,
// in the background: a server that does not answer is retried with
// backoff, and Health reports it meanwhile.
func (c *Client) Start() { go c.run() }

// Stop ends the background work.
func (c *Client) Stop() {
	close(c.stop)
	<-c.done
}

// Health is nil while the server answers, else why it does not.
func (c *Client) Health() error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.health
}

func (c *Client) run() {
	defer close(c.done)
	const minBackoff, maxBackoff = 250 * time.Millisecond, 30 * time.Second
	backoff := minBackoff
	for {
		err := c.poll()
		c.setHealth(err)
		wait := c.config.PollEvery
		if err != nil {
			wait, backoff = backoff, min(backoff*2, maxBackoff)
		} else {
			backoff = minBackoff
		}
		select {
		case <-c.stop:
			return
		case <-c.wake:
		case <-time.After(wait):
		}
	}
}

func (c *Client) setHealth(err error) {
	c.mu.Lock()
	was := c.health
	c.health = err
	c.mu.Unlock()
	var refused *OAuth2Error
	switch {
	case errors.As(err, &refused) && (refused.Status == http.StatusUnauthorized || refused.Status == http.StatusForbidden):
		if was == nil || !errors.As(was, new(*OAuth2Error)) {
			c.config.Logger.Error("clover: the server refuses this application's credentials; check Clover_Tenant_ID and Clover_Secret", "server", c.issuer, "status", refused.Status)
		}
	case err != nil && was == nil:
		c.config.Logger.Warn("clover: the server does not answer; Clover logins answer 503 until it does", "server", c.issuer, "error", err)
	case err == nil && was != nil:
		c.config.Logger.Info("clover: the server answers", "server", c.issuer)
	}
}

// unavailable marks the server down after a failed call and has the
// background loop retry at once.
func (c *Client) unavailable(err error) error {
	c.setHealth(err)
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}

// Tenant is the application's tenant as its server describes it.
type Tenant struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	FirstParty bool   `json:"first_party"`
	Roles      []struct {
		Name          string `json:"name"`
		SecurityLevel int    `json:"security_level"`
	} `json:"roles"`
}

// Tenant is the tenant read at start, nil until the server answered.
func (c *Client) Tenant() *Tenant {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.tenant
}

// poll discovers the server and reads the tenant if needed, then the
// revoked token ids.
func (c *Client) poll() error {
	ctx, cancel := context.WithTimeout(context.Background(), c.config.Timeout)
	defer cancel()
	if c.discovered() == nil {
		if err := c.discover(ctx); err != nil {
			return err
		}
	}
	if c.Tenant() == nil {
		tenant := &Tenant{}
		if err := c.call(ctx, http.MethodGet, c.issuer+"/tenants/"+url.PathEscape(c.config.TenantID), nil, tenant); err != nil {
			return err
		}
		c.mu.Lock()
		c.tenant = tenant
		c.mu.Unlock()
		c.config.Logger.Info("clover: signed in to the server as a tenant", "tenant", tenant.Name, "firstParty", tenant.FirstParty, "roles", len(tenant.Roles))
		if !tenant.FirstParty {
			c.config.Logger.Warn("clover: the tenant is not first-party: the server refuses its logins; make it first-party on the server (clover tenant create --first-party)")
		}
	}
	var answer struct {
		Revoked []struct {
			JTI string `json:"jti"`
			Exp int64  `json:"exp"`
		} `json:"revoked"`
	}
	if err := c.call(ctx, http.MethodGet, c.issuer+"/oauth/revoked", nil, &answer); err != nil {
		return err
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for jti, expires := range c.revoked {
		if now.After(expires) {
			delete(c.revoked, jti)
		}
	}
	for _, token := range answer.Revoked {
		c.revoked[token.JTI] = time.Unix(token.Exp, 0)
	}
	return nil
}

func (c *Client) discovered() *endpoints {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.endpoints
}

// discover reads the discovery document with go-oidc, which checks that
// it names the expected issuer.
func (c *Client) discover(ctx context.Context) error {
	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, c.http), c.issuer)
	if err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	found := &endpoints{}
	if err := provider.Claims(found); err != nil {
		return err
	}
	keys := &keySet{url: found.JWKS, http: c.http, minRefetch: KeyRefetchInterval}
	verifier := oidc.NewVerifier(c.issuer, keys, &oidc.Config{ClientID: c.config.TenantID, SupportedSigningAlgs: []string{oidc.RS256}})
	c.mu.Lock()
	c.endpoints, c.keys, c.verifier = found, keys, verifier
	c.mu.Unlock()
	return nil
}

// Claims are what a verified Clover access token says.
type Claims struct {
	Subject   string    `json:"sub"`
	JTI       string    `json:"jti"`
	ClientID  string    `json:"client_id"`
	Roles     []string  `json:"roles"`
	Clearance int       `json:"clr"`
	IssuedAt  time.Time `json:"-"`
	Expiry    time.Time `json:"-"`
}

// ErrInvalidToken is the error of a token that is not a live Clover access
// token of this tenant.
var ErrInvalidToken = errors.New("clover: invalid token")

// Verify checks an access token offline: an RS256 signature by one of the
// server's keys, this server as issuer, this tenant as audience and
// client, not expired, an access token (with a jti; ID tokens have none),
// not revoked.
func (c *Client) Verify(ctx context.Context, raw string) (*Claims, error) {
	c.mu.RLock()
	verifier := c.verifier
	c.mu.RUnlock()
	if verifier == nil {
		return nil, ErrUnavailable
	}
	slot := &keyErrorSlot{}
	token, err := verifier.Verify(context.WithValue(ctx, keyErrorKey{}, slot), raw)
	if err != nil && slot.err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, slot.err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	claims := &Claims{}
	if err := token.Claims(claims); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if claims.JTI == "" || claims.ClientID != c.config.TenantID || len(token.Audience) != 1 {
		return nil, fmt.Errorf("%w: not an access token of this tenant", ErrInvalidToken)
	}
	if claims.Subject == "" || claims.Subject == claims.ClientID {
		return nil, fmt.Errorf("%w: the tenant's own token (client credentials) is not a user's", ErrInvalidToken)
	}
	c.mu.RLock()
	_, revoked := c.revoked[claims.JTI]
	c.mu.RUnlock()
	if revoked {
		return nil, fmt.Errorf("%w: revoked", ErrInvalidToken)
	}
	claims.IssuedAt, claims.Expiry = token.IssuedAt, token.Expiry
	return claims, nil
}

// Tokens are what the token endpoint issues.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
}

// ExchangePocketBaseToken trades a PocketBase auth token of the server's
// users for Clover tokens (RFC 8693; the tenant must be first-party).
func (c *Client) ExchangePocketBaseToken(ctx context.Context, pocketBaseToken string) (*Tokens, error) {
	found := c.discovered()
	if found == nil {
		return nil, ErrUnavailable
	}
	tokens := &Tokens{}
	err := c.call(ctx, http.MethodPost, found.Token, url.Values{
		"grant_type":         {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"subject_token_type": {PocketBaseTokenType},
		"subject_token":      {pocketBaseToken},
	}, tokens)
	return tokens, err
}

// Refresh uses a refresh token (with golang.org/x/oauth2): new tokens, the
// refresh token rotated.
func (c *Client) Refresh(ctx context.Context, refreshToken string) (*Tokens, error) {
	found := c.discovered()
	if found == nil {
		return nil, ErrUnavailable
	}
	config := &oauth2.Config{ClientID: c.config.TenantID, ClientSecret: c.config.Secret,
		Endpoint: oauth2.Endpoint{TokenURL: found.Token, AuthStyle: oauth2.AuthStyleInHeader}}
	token, err := config.TokenSource(oidc.ClientContext(ctx, c.http), &oauth2.Token{RefreshToken: refreshToken}).Token()
	var retrieve *oauth2.RetrieveError
	if errors.As(err, &retrieve) && retrieve.Response.StatusCode < 500 {
		return nil, &OAuth2Error{Status: retrieve.Response.StatusCode, Code: retrieve.ErrorCode, Description: retrieve.ErrorDescription}
	}
	if err != nil {
		return nil, c.unavailable(err)
	}
	return &Tokens{AccessToken: token.AccessToken, RefreshToken: token.RefreshToken, ExpiresIn: int(token.ExpiresIn)}, nil
}

// Revoke revokes a token at the server (a refresh token with its family);
// an access token this client verified is refused at once, before the
// next poll.
func (c *Client) Revoke(ctx context.Context, token string) error {
	found := c.discovered()
	if found == nil {
		return ErrUnavailable
	}
	if err := c.call(ctx, http.MethodPost, found.Revocation, url.Values{"token": {token}}, nil); err != nil {
		var refused *OAuth2Error
		if errors.As(err, &refused) {
			return fmt.Errorf("%w: %s", ErrNotRevocable, refused.Description)
		}
		return err
	}
	if claims, err := c.Verify(ctx, token); err == nil {
		c.mu.Lock()
		c.revoked[claims.JTI] = claims.Expiry
		c.mu.Unlock()
	}
	return nil
}

// ErrNotRevocable is the error of a token the server does not let this
// tenant revoke (another tenant's).
var ErrNotRevocable = errors.New("clover: the token cannot be revoked by this application")

// Introspect asks the server about a token (RFC 7662): the round trip that
// Verify saves.
func (c *Client) Introspect(ctx context.Context, token string) (active bool, err error) {
	found := c.discovered()
	if found == nil {
		return false, ErrUnavailable
	}
	var answer struct {
		Active bool `json:"active"`
	}
	err = c.call(ctx, http.MethodPost, found.Introspection, url.Values{"token": {token}}, &answer)
	return answer.Active, err
}

// PocketBase calls an auth endpoint of the server's PocketBase (path from
// /api/...) with a JSON body, and returns its answer as it is.
func (c *Client) PocketBase(ctx context.Context, method, path string, body any) (int, []byte, error) {
	var reader io.Reader
	if body != nil {
		encoded, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		reader = strings.NewReader(string(encoded))
	}
	request, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.config.ServerURL, "/")+path, reader)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		request.Header.Set("Content-Type", "application/json")
	}
	return c.send(request)
}

// send sends a request to the server and reads its answer. A server that
// does not answer, or answers 5xx, is marked unavailable; one that answers
// is known to be back.
func (c *Client) send(request *http.Request) (int, []byte, error) {
	response, err := c.http.Do(request)
	if err != nil {
		return 0, nil, c.unavailable(err)
	}
	defer response.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(response.Body, 1<<20))
	if err != nil {
		return 0, nil, c.unavailable(err)
	}
	if response.StatusCode >= 500 {
		return 0, nil, c.unavailable(fmt.Errorf("%s answered %d", request.URL.Path, response.StatusCode))
	}
	c.answered()
	return response.StatusCode, answer, nil
}

// OAuth2Error is an OAuth2 error answer of the server.
type OAuth2Error struct {
	Status      int
	Code        string
	Description string
}

func (e *OAuth2Error) Error() string {
	return fmt.Sprintf("clover: %s: %s", e.Code, e.Description)
}

// call sends a form (or nothing) to a server endpoint with the tenant's
// credentials in the Authorization header, and decodes its JSON answer.
func (c *Client) call(ctx context.Context, method, endpoint string, form url.Values, into any) error {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	request, err := http.NewRequestWithContext(ctx, method, endpoint, body)
	if err != nil {
		return err
	}
	if form != nil {
		request.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	request.SetBasicAuth(url.QueryEscape(c.config.TenantID), url.QueryEscape(c.config.Secret))
	status, answer, err := c.send(request)
	if err != nil {
		return err
	}
	if status >= 400 {
		failure := &OAuth2Error{Status: status}
		var decoded struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
			Message     string `json:"message"`
		}
		_ = json.Unmarshal(answer, &decoded)
		failure.Code, failure.Description = decoded.Error, decoded.Description
		if failure.Code == "" {
			failure.Code, failure.Description = http.StatusText(status), decoded.Message
		}
		return failure
	}
	if into == nil || len(answer) == 0 {
		return nil
	}
	return json.Unmarshal(answer, into)
}

// answered has the background loop check the server at once after a
// call succeeded while it was marked down, so that health recovers with
// the first answer rather than after the backoff.
func (c *Client) answered() {
	if c.Health() != nil {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}
