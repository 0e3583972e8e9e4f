package hapta

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/postr-inc/hapta/plugins/hapta/internal/cloverclient"
)

// StrategyClover is the Strategy of a principal signed in through a remote
// Clover server (Clover_Tenant_ID set), by a login or by a Clover bearer
// token.
const StrategyClover = "clover"

// CloverUsersCollection is the auth collection where the users who sign in
// through Clover are mirrored, one record per Clover subject, so that
// PocketBase's API rules, realtime and the admin UI see them as
// @request.auth. Its records cannot log in by themselves: every auth
// method of the collection is off.
const CloverUsersCollection = "clover_users"

// The mirror's fields beyond the auth collection's own.
const (
	cloverSubjectField   = "clover_sub"
	cloverTenantField    = "tenant"
	cloverRolesField     = "roles"
	cloverClearanceField = "clearance"
	cloverClaimsAtField  = "claims_at" // the issue time of the token the fields come from
)

// cloverLink is the application's link to its Clover server.
type cloverLink struct {
	app    core.App
	client *cloverclient.Client
}

// errCloverOff is the answer of an explicit Clover login without Clover.
var errCloverOff = apis.NewBadRequestError("Clover is not configured: set Clover_Tenant_ID, Clover_Secret and Clover_Server_Url.", nil)

func errCloverUnavailable() error {
	return apis.NewApiError(http.StatusServiceUnavailable, "Clover is unavailable; try again later.", nil)
}

// startClover links the app to its Clover server: the mirror collection,
// the client's background discovery (an unreachable server does not stop
// the start), and Clover bearer tokens accepted on every route.
func (p *plugin) startClover(se *core.ServeEvent) error {
	if err := ensureCloverUsers(se.App); err != nil {
		return err
	}
	link := &cloverLink{app: se.App, client: cloverclient.New(cloverclient.Config{
		ServerURL: p.settings.Clover.ServerURL,
		TenantID:  p.settings.Clover.TenantID,
		Secret:    string(p.settings.Clover.Secret),
		Logger:    p.logger,
		PollEvery: p.config.CloverPollEvery,
	})}
	link.client.Start()
	se.App.OnTerminate().BindFunc(func(e *core.TerminateEvent) error {
		link.client.Stop()
		return e.Next()
	})
	p.authenticate.clover = link
	se.Router.Bind(link.tokenMiddleware(), link.healthMiddleware())
	return nil
}

// ensureCloverUsers creates the mirror collection when it is missing.
func ensureCloverUsers(app core.App) error {
	if _, err := app.FindCollectionByNameOrId(CloverUsersCollection); err == nil {
		return nil
	}
	collection := core.NewAuthCollection(CloverUsersCollection)
	collection.Fields.Add(
		&core.TextField{Name: cloverSubjectField, Required: true, Max: 200},
		&core.TextField{Name: cloverTenantField, Max: 200},
		&core.JSONField{Name: cloverRolesField, MaxSize: 16 << 10},
		&core.NumberField{Name: cloverClearanceField, OnlyInt: true},
		&core.NumberField{Name: cloverClaimsAtField, OnlyInt: true},
	)
	collection.AddIndex("idx_clover_users_sub", true, cloverSubjectField, "")
	if email, ok := collection.Fields.GetByName(core.FieldNameEmail).(*core.EmailField); ok {
		email.Required = false // known from a login, not from a bearer token
	}
	collection.PasswordAuth.Enabled = false // they sign in through Clover only
	collection.OTP.Enabled = false
	collection.OAuth2.Enabled = false
	collection.MFA.Enabled = false
	own := types.Pointer("id = @request.auth.id")
	collection.ListRule, collection.ViewRule = own, own
	return app.Save(collection)
}

// tokenMiddleware authenticates Clover access tokens, after PocketBase and
// hapta tried theirs, for hapta routes and PocketBase's API alike.
func (l *cloverLink) tokenMiddleware() *hook.Handler[*core.RequestEvent] {
	return &hook.Handler[*core.RequestEvent]{
		Id:       CloverTokenMiddlewareId,
		Priority: CloverTokenMiddlewarePriority,
		Func: func(e *core.RequestEvent) error {
			if e.Auth == nil {
				if token := authToken(e); strings.Count(token, ".") == 2 {
					if claims, err := l.client.Verify(e.Request.Context(), token); err == nil {
						if record, err := l.mirror(claims, ""); err == nil {
							e.Auth = record
							e.Set(strategyKey, StrategyClover)
						} else {
							e.App.Logger().Error("clover: mirroring a user failed", "error", err)
						}
					}
				}
			}
			return e.Next()
		},
	}
}

// healthMiddleware adds Clover's state to PocketBase's GET /api/health
// answer: "ok", or "degraded" while the server is unreachable.
func (l *cloverLink) healthMiddleware() *hook.Handler[*core.RequestEvent] {
	return healthMiddleware(CloverHealthMiddlewareId, "clover", func() any {
		if l.client.Health() != nil {
			return "degraded"
		}
		return "ok"
	})
}

// mirror is the local record of a verified Clover user, created on first
// sight (with email, when a login gave it and no other record has it) and
// kept to the newest token's tenant, roles and clearance: a token older
// than the fields never overwrites them.
func (l *cloverLink) mirror(claims *cloverclient.Claims, email string) (*core.Record, error) {
	record, err := l.app.FindFirstRecordByData(CloverUsersCollection, cloverSubjectField, claims.Subject)
	if err == nil && !mirrorChanges(record, claims, email) {
		return record, nil // the usual case: nothing to write
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	err = l.app.RunInTransaction(func(txApp core.App) error { // writes are serialized: read, compare, write
		record, err = txApp.FindFirstRecordByData(CloverUsersCollection, cloverSubjectField, claims.Subject)
		if errors.Is(err, sql.ErrNoRows) {
			collection, err := txApp.FindCachedCollectionByNameOrId(CloverUsersCollection)
			if err != nil {
				return err
			}
			record = core.NewRecord(collection)
			record.Set(cloverSubjectField, claims.Subject)
			record.SetPassword(rand.Text() + rand.Text()) // never used: password auth is off
		} else if err != nil {
			return err
		}
		if !mirrorChanges(record, claims, email) {
			return nil
		}
		if claims.IssuedAt.Unix() >= int64(record.GetInt(cloverClaimsAtField)) || record.IsNew() {
			record.Set(cloverTenantField, claims.ClientID)
			record.Set(cloverRolesField, claims.Roles)
			record.Set(cloverClearanceField, claims.Clearance)
			record.Set(cloverClaimsAtField, claims.IssuedAt.Unix())
		}
		if email != "" && record.Email() != email {
			if taken, _ := txApp.FindAuthRecordByEmail(CloverUsersCollection, email); taken == nil {
				record.SetEmail(email) // else another mirror has it: keep this one's
			}
		}
		return txApp.Save(record)
	})
	if err != nil {
		return nil, err
	}
	return record, nil
}

// mirrorChanges reports whether a token (or a login's email) has news for
// the mirror record.
func mirrorChanges(record *core.Record, claims *cloverclient.Claims, email string) bool {
	if email != "" && record.Email() != email {
		return true
	}
	if claims.IssuedAt.Unix() < int64(record.GetInt(cloverClaimsAtField)) {
		return false
	}
	var roles []string
	_ = record.UnmarshalJSONField(cloverRolesField, &roles)
	return record.GetString(cloverTenantField) != claims.ClientID || !slices.Equal(roles, claims.Roles) ||
		record.GetInt(cloverClearanceField) != claims.Clearance
}

// cloverPrincipal fills the tenant, roles and clearance of a mirrored user.
func cloverPrincipal(p *Principal, record *core.Record) {
	if record.Collection().Name != CloverUsersCollection {
		return
	}
	p.TenantID = record.GetString(cloverTenantField)
	p.Roles = []string{}
	_ = record.UnmarshalJSONField(cloverRolesField, &p.Roles)
	p.HighestClearance = record.GetInt(cloverClearanceField)
}

// signIn completes a login through Clover: the PocketBase token the
// server's auth endpoint gave is exchanged for Clover tokens, verified,
// and its user mirrored. Neither the server's token nor its record reaches
// the client.
func (l *cloverLink) signIn(caller Caller, pocketBaseToken string, serverRecord map[string]any) (*AuthResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tokens, err := l.client.ExchangePocketBaseToken(ctx, pocketBaseToken)
	if err != nil {
		return nil, l.answerError(err)
	}
	email, _ := serverRecord["email"].(string)
	return l.result(ctx, caller, tokens, email)
}

// refresh uses a Clover refresh token.
func (l *cloverLink) refresh(caller Caller, refreshToken string) (*AuthResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tokens, err := l.client.Refresh(ctx, refreshToken)
	if err != nil {
		return nil, l.answerError(err)
	}
	return l.result(ctx, caller, tokens, "")
}

func (l *cloverLink) result(ctx context.Context, caller Caller, tokens *cloverclient.Tokens, email string) (*AuthResult, error) {
	claims, err := l.client.Verify(ctx, tokens.AccessToken)
	if errors.Is(err, cloverclient.ErrUnknownKey) { // a key the server made since the last read
		time.Sleep(cloverclient.KeyRefetchInterval)
		claims, err = l.client.Verify(ctx, tokens.AccessToken)
	}
	if err != nil {
		return nil, l.answerError(err)
	}
	record, err := l.mirror(claims, email)
	if err != nil {
		return nil, err
	}
	principal, err := newPrincipal(l.app, record, StrategyClover, tokens.AccessToken, caller.Header)
	if err != nil {
		return nil, err
	}
	return &AuthResult{IsAuthenticated: true, Token: tokens.AccessToken, RefreshToken: tokens.RefreshToken, Principal: principal}, nil
}

// answerError is the API error of a failed Clover call: 503 when the
// server does not answer or refuses this application's credentials (the
// operator's problem, logged), 401 when it refuses the user.
func (l *cloverLink) answerError(err error) error {
	var refused *cloverclient.OAuth2Error
	switch {
	case errors.Is(err, cloverclient.ErrUnavailable):
		return errCloverUnavailable()
	case errors.As(err, &refused) && (refused.Code == "invalid_client" || refused.Code == "unauthorized_client"):
		l.app.Logger().Error("clover: the server refused this application's tenant; check Clover_Tenant_ID and Clover_Secret, and that the tenant is first-party",
			"error", refused.Code, "description", refused.Description)
		return errCloverUnavailable()
	case errors.As(err, &refused):
		return apis.NewUnauthorizedError("Clover refused the sign-in: "+refused.Description, nil)
	case errors.Is(err, cloverclient.ErrInvalidToken):
		return apis.NewUnauthorizedError("Clover issued a token this application cannot verify.", nil)
	}
	return err
}

// revoke revokes a Clover token at the server; this application refuses
// it at once.
func (l *cloverLink) revoke(token string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := l.client.Revoke(ctx, token); errors.Is(err, cloverclient.ErrNotRevocable) {
		return apis.NewBadRequestError("The token cannot be revoked by this application.", nil)
	} else if err != nil {
		return l.answerError(err)
	}
	return nil
}
