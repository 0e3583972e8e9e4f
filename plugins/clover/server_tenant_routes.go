package clover

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/pocketbase/dbx"
	validation "github.com/pocketbase/ozzo-validation/v4"
	"github.com/pocketbase/pocketbase/core"
)

// callingTenant is the tenant whose client id and secret the request
// carries with HTTP Basic.
func (s *server) callingTenant(e *core.RequestEvent) (*core.Record, error) {
	clientID, secret, ok := basicCredentials(e.Request)
	if !ok {
		return nil, e.UnauthorizedError("Send the tenant's client id and secret with HTTP Basic.", nil)
	}
	tenant, err := AuthenticateClient(e.App, clientID, secret)
	if errors.Is(err, ErrInvalidClient) {
		return nil, e.UnauthorizedError("Wrong client id or secret.", nil)
	}
	return tenant, err
}

// basicCredentials are a client's id and secret from HTTP Basic, form
// decoded as RFC 6749 (2.3.1) asks.
func basicCredentials(r *http.Request) (id, secret string, ok bool) {
	id, secret, ok = r.BasicAuth()
	if !ok {
		return "", "", false
	}
	id, idErr := url.QueryUnescape(id)
	secret, secretErr := url.QueryUnescape(secret)
	return id, secret, idErr == nil && secretErr == nil
}

// signup makes a user of the server's users collection a member of the
// calling tenant: a new user, or, for a first-party tenant only, an
// existing one who proves it with their password (a third-party tenant
// must not be able to try users' passwords). The answer names the user;
// it never echoes the record.
func (s *server) signup(e *core.RequestEvent) error {
	tenant, err := s.callingTenant(e)
	if err != nil {
		return err
	}
	var body struct {
		Email           string `json:"email"`
		Password        string `json:"password"`
		PasswordConfirm string `json:"passwordConfirm"`
		Name            string `json:"name"`
	}
	if err := e.BindBody(&body); err != nil {
		return e.BadRequestError("The body is not a JSON object.", err)
	}
	users, err := e.App.FindCachedCollectionByNameOrId(s.storage.users)
	if err != nil {
		return err
	}
	taken := validation.Errors{"email": validation.NewError("validation_not_unique", "Value must be unique.")} // PocketBase's own answer
	var user *core.Record
	if existing, err := e.App.FindAuthRecordByEmail(users, body.Email); err == nil {
		if !tenant.GetBool(FirstPartyField) {
			return e.BadRequestError("Failed to sign up.", taken)
		}
		// as PocketBase signs in: auth rule, rate limits, lockout (outside
		// a transaction: the sign-in writes)
		if user, err = s.authenticate(e.Request, existing.Email(), body.Password); err != nil {
			return e.BadRequestError("Failed to sign up.", taken)
		}
	}
	created := user == nil
	err = e.App.RunInTransaction(func(txApp core.App) error {
		if created {
			if body.Password != body.PasswordConfirm {
				return validation.Errors{"passwordConfirm": validation.NewError("validation_values_mismatch", "Values don't match.")}
			}
			user = core.NewRecord(users)
			user.SetEmail(body.Email)
			user.SetPassword(body.Password)
			if users.Fields.GetByName("name") != nil {
				user.Set("name", body.Name)
			}
			if err := txApp.Save(user); err != nil {
				return err
			}
		}
		if _, member, err := FindMembership(txApp, tenant.Id, user.Id); err != nil || member {
			return err
		}
		members, err := txApp.FindCachedCollectionByNameOrId(MembersCollection)
		if err != nil {
			return err
		}
		membership := core.NewRecord(members)
		membership.Set("tenant", tenant.Id)
		membership.Set("user", user.Id)
		return txApp.Save(membership)
	})
	var fieldErrors validation.Errors
	if errors.As(err, &fieldErrors) {
		return e.BadRequestError("Failed to sign up.", fieldErrors)
	}
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return e.JSON(status, map[string]any{"id": user.Id, "email": user.Email(), "tenant": tenant.Id, "created": created})
}

// tenant answers a tenant's own description and its roles with their
// clearance, to the tenant itself.
func (s *server) tenant(e *core.RequestEvent) error {
	tenant, err := s.callingTenant(e)
	if err != nil {
		return err
	}
	if tenant.Id != e.Request.PathValue("id") {
		return e.ForbiddenError("A tenant may only read itself.", nil)
	}
	roles, err := e.App.FindAllRecords(RolesCollection, dbx.HashExp{"tenant": tenant.Id})
	if err != nil {
		return err
	}
	type role struct {
		ID            string `json:"id"`
		Name          string `json:"name"`
		SecurityLevel int    `json:"security_level"`
	}
	answer := struct {
		ID         string `json:"id"`
		Name       string `json:"name"`
		FirstParty bool   `json:"first_party"`
		Roles      []role `json:"roles"`
	}{ID: tenant.Id, Name: tenant.GetString("name"), FirstParty: tenant.GetBool(FirstPartyField), Roles: []role{}}
	for _, r := range roles {
		answer.Roles = append(answer.Roles, role{ID: r.Id, Name: r.GetString("name"), SecurityLevel: r.GetInt("security_level")})
	}
	return e.JSON(http.StatusOK, answer)
}

// RevokedToken is a revoked access token that has not expired yet.
type RevokedToken struct {
	JTI     string `json:"jti" db:"jti"`
	Expires int64  `json:"exp" db:"expires"` // Unix seconds
}

// revoked lists the calling tenant's revoked access tokens that are still
// unexpired: clients that verify tokens offline poll it to refuse them.
func (s *server) revoked(e *core.RequestEvent) error {
	tenant, err := s.callingTenant(e)
	if err != nil {
		return err
	}
	tokens := []RevokedToken{}
	err = e.App.DB().NewQuery("SELECT [[jti]], [[expires]] / 1000 AS [[expires]] FROM {{" + accessTokensTable + "}} " +
		"WHERE [[tenant]] = {:tenant} AND [[revoked]] = 1 AND [[expires]] > {:now}").
		Bind(dbx.Params{"tenant": tenant.Id, "now": time.Now().UnixMilli()}).All(&tokens)
	if err != nil {
		return err
	}
	e.Response.Header().Set("Cache-Control", "no-store")
	return e.JSON(http.StatusOK, map[string]any{"revoked": tokens})
}
