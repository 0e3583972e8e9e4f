package clover

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// The token half of the storage: sign-ins (auth requests and their codes),
// access token ids and refresh token families, in the server's tables.

// newID is a random id for requests, tokens and families.
func newID() string { return rand.Text() }

// CreateAuthRequest keeps a sign-in that /authorize accepted. Clover asks
// every client for PKCE with S256, confidential or not.
func (s *storage) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	if req.CodeChallenge == "" || req.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return nil, oidc.ErrInvalidRequest().WithDescription("PKCE is required: send a code_challenge with code_challenge_method S256")
	}
	if req.ResponseMode != "" && req.ResponseMode != oidc.ResponseModeQuery {
		return nil, oidc.ErrInvalidRequest().WithDescription("only response_mode=query is supported")
	}
	request := &authRequest{
		grant:       grant{Tenant: req.ClientID, Scopes: req.Scopes},
		ID:          newID(),
		RedirectURI: req.RedirectURI, State: req.State, Nonce: req.Nonce,
		ResponseType: req.ResponseType, ResponseMode: req.ResponseMode,
		Challenge: req.CodeChallenge, ChallengeMethod: req.CodeChallengeMethod,
	}
	data, err := json.Marshal(request)
	if err != nil {
		return nil, err
	}
	_, err = s.app.DB().NewQuery("INSERT INTO {{" + authRequestsTable + "}} ([[id]], [[data]], [[created]]) VALUES ({:id}, {:data}, {:created})").
		Bind(dbx.Params{"id": request.ID, "data": string(data), "created": time.Now().UnixMilli()}).Execute()
	if err != nil {
		return nil, err
	}
	return request, nil
}

// AuthRequestByID is a pending sign-in, younger than authRequestLifetime.
func (s *storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	return s.findAuthRequest("[[id]] = {:id} AND [[consumed]] = 0", dbx.Params{"id": id})
}

// AuthRequestByCode is the finished sign-in of a code. It neither spends
// the code nor punishes a replay: the library asks before it checks the
// client and PKCE, and a stranger holding a used code must not be able to
// end the user's session. The tokens are issued with the code spent, in
// one transaction (spendCode), where a replay by the client itself
// revokes every token issued for it.
func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	if code == "" {
		return nil, oidc.ErrInvalidGrant()
	}
	request, err := s.findAuthRequest("[[code]] = {:code} AND [[done]] = 1", dbx.Params{"code": code})
	if err != nil {
		return nil, oidc.ErrInvalidGrant().WithDescription("unknown or expired code")
	}
	return request, nil
}

// spendCode marks a sign-in's code used, in the transaction that issues
// its tokens: errCodeReused when another exchange spent it first.
func spendCode(txApp core.App, g familyGrant) error {
	request, ok := g.(*authRequest)
	if !ok {
		return nil
	}
	return updateOne(txApp, "UPDATE {{"+authRequestsTable+"}} SET [[consumed]] = 1 WHERE [[id]] = {:id} AND [[consumed]] = 0",
		dbx.Params{"id": request.ID}, errCodeReused)
}

// updateOne runs a conditional update and answers none when no row
// matched: the row is gone, or a concurrent request changed it first.
func updateOne(app core.App, statement string, params dbx.Params, none error) error {
	result, err := app.DB().NewQuery(statement).Bind(params).Execute()
	if err != nil {
		return err
	}
	if n, _ := result.RowsAffected(); n == 0 {
		return none
	}
	return nil
}

var errCodeReused = errors.New("code reused")

func (s *storage) findAuthRequest(where string, params dbx.Params) (*authRequest, error) {
	var row struct {
		Data    string `db:"data"`
		Done    bool   `db:"done"`
		Created int64  `db:"created"`
	}
	params["oldest"] = time.Now().Add(-authRequestLifetime).UnixMilli()
	err := s.app.DB().NewQuery("SELECT [[data]], [[done]], [[created]] FROM {{" + authRequestsTable + "}} WHERE " + where + " AND [[created]] >= {:oldest}").
		Bind(params).One(&row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, oidc.ErrInvalidRequest().WithDescription("the sign-in is unknown, finished or expired; start again")
	}
	if err != nil {
		return nil, err
	}
	request := &authRequest{}
	if err := json.Unmarshal([]byte(row.Data), request); err != nil {
		return nil, err
	}
	request.done = row.Done
	return request, nil
}

// SaveAuthCode binds the code the library made to a finished sign-in,
// once: a sign-in gives one code.
func (s *storage) SaveAuthCode(ctx context.Context, id, code string) error {
	return updateOne(s.app, "UPDATE {{"+authRequestsTable+"}} SET [[code]] = {:code} "+
		"WHERE [[id]] = {:id} AND [[done]] = 1 AND [[consumed]] = 0 AND [[code]] = ''",
		dbx.Params{"id": id, "code": code}, oidc.ErrInvalidRequest().WithDescription("the sign-in already gave its code"))
}

// DeleteAuthRequest marks the sign-in consumed: it is kept until it
// expires, so that its code is recognised if replayed.
func (s *storage) DeleteAuthRequest(ctx context.Context, id string) error {
	_, err := s.app.DB().NewQuery("UPDATE {{" + authRequestsTable + "}} SET [[consumed]] = 1 WHERE [[id]] = {:id}").
		Bind(dbx.Params{"id": id}).Execute()
	return err
}

// completeAuthRequest records who signed in for a pending sign-in; it
// fails when the sign-in is unknown, finished or expired.
func (s *storage) completeAuthRequest(request *authRequest, user *core.Record) error {
	request.Subject, request.UserKey, request.AuthTime = user.Id, userKey(user), time.Now().UTC().Truncate(time.Second)
	data, err := json.Marshal(request)
	if err != nil {
		return err
	}
	return updateOne(s.app, "UPDATE {{"+authRequestsTable+"}} SET [[data]] = {:data}, [[done]] = 1 "+
		"WHERE [[id]] = {:id} AND [[done]] = 0 AND [[consumed]] = 0 AND [[created]] >= {:oldest}",
		dbx.Params{"id": request.ID, "data": string(data), "oldest": time.Now().Add(-authRequestLifetime).UnixMilli()}, errSignInGone)
}

var errSignInGone = errors.New("the sign-in is unknown, finished or expired; start again from the application")

// CreateAccessToken records the id of an access token issued without a
// refresh token.
func (s *storage) CreateAccessToken(ctx context.Context, request op.TokenRequest) (string, time.Time, error) {
	g, ok := request.(familyGrant)
	if !ok {
		return "", time.Time{}, oidc.ErrServerError()
	}
	var jti string
	var expires time.Time
	err := s.app.RunInTransaction(func(txApp core.App) error {
		if err := spendCode(txApp, g); err != nil {
			return err
		}
		if err := s.checkUserKey(txApp, g); err != nil {
			return err
		}
		var err error
		jti, expires, err = s.insertAccessToken(txApp, g, g.family())
		return err
	})
	if err != nil {
		return "", time.Time{}, s.reuseError(err, g.family())
	}
	return jti, expires, nil
}

// reuseError revokes the family of a reused code or refresh token (after
// the failed transaction) and answers invalid_grant.
func (s *storage) reuseError(err error, family string) error {
	if !errors.Is(err, errCodeReused) && !errors.Is(err, errRefreshReused) {
		return err
	}
	if err := s.revokeFamily(family); err != nil {
		return err
	}
	return oidc.ErrInvalidGrant().WithDescription("the code or refresh token was already used; the tokens issued for it are revoked")
}

func (s *storage) insertAccessToken(app core.App, g familyGrant, family string) (string, time.Time, error) {
	jti, expires := newID(), time.Now().Add(AccessTokenLifetime)
	scopes, _ := json.Marshal(g.GetScopes())
	_, err := app.DB().NewQuery("INSERT INTO {{" + accessTokensTable + "}} ([[jti]], [[family]], [[tenant]], [[subject]], [[scopes]], [[expires]]) " +
		"VALUES ({:jti}, {:family}, {:tenant}, {:subject}, {:scopes}, {:expires})").
		Bind(dbx.Params{"jti": jti, "family": family, "tenant": g.base().Tenant, "subject": g.GetSubject(), "scopes": string(scopes), "expires": expires.UnixMilli()}).
		Execute()
	return jti, expires, err
}

var errRefreshReused = errors.New("refresh token reused")

// CreateAccessAndRefreshTokens issues an access token and a refresh token
// of the grant's family, rotating current (when refreshing): a token that
// was rotated already, here by a concurrent request, is a reuse and
// revokes its whole family.
func (s *storage) CreateAccessAndRefreshTokens(ctx context.Context, request op.TokenRequest, current string) (string, string, time.Time, error) {
	g, ok := request.(familyGrant)
	if !ok {
		return "", "", time.Time{}, oidc.ErrServerError()
	}
	base := g.base()
	family := g.family()
	refresh := "rt_" + rand.Text() + rand.Text()
	var jti string
	var expires time.Time
	err := s.app.RunInTransaction(func(txApp core.App) error {
		if err := spendCode(txApp, g); err != nil {
			return err
		}
		if current != "" {
			err := updateOne(txApp, "UPDATE {{"+refreshTokensTable+"}} SET [[rotated]] = 1 WHERE [[hash]] = {:hash} AND [[rotated]] = 0 AND [[revoked]] = 0",
				dbx.Params{"hash": hashSecret(current)}, errRefreshReused)
			if err != nil {
				return err
			}
		}
		var err error
		if jti, expires, err = s.insertAccessToken(txApp, g, family); err != nil {
			return err
		}
		if err := s.checkUserKey(txApp, g); err != nil {
			return err
		}
		scopes, _ := json.Marshal(base.Scopes)
		amr, _ := json.Marshal(base.AMR)
		_, err = txApp.DB().NewQuery("INSERT INTO {{" + refreshTokensTable + "}} ([[hash]], [[id]], [[family]], [[tenant]], [[subject]], [[scopes]], [[amr]], [[auth_time]], [[expires]], [[user_key]]) " +
			"VALUES ({:hash}, {:id}, {:family}, {:tenant}, {:subject}, {:scopes}, {:amr}, {:authTime}, {:expires}, {:userKey})").
			Bind(dbx.Params{"hash": hashSecret(refresh), "id": newID(), "family": family, "tenant": base.Tenant, "subject": base.Subject,
				"scopes": string(scopes), "amr": string(amr), "authTime": base.AuthTime.UnixMilli(), "expires": time.Now().Add(RefreshTokenLifetime).UnixMilli(),
				"userKey": base.UserKey}).
			Execute()
		return err
	})
	if err != nil {
		return "", "", time.Time{}, s.reuseError(err, family)
	}
	return jti, refresh, expires, nil
}

// userKey is the hash of a user's PocketBase token key, which changes with
// their password. A grant records it when the user authenticates, and its
// tokens are issued only while it is the same: a password change ends
// what was signed in before it, a pending code and a refresh family alike.
func userKey(user *core.Record) string { return hashSecret(user.TokenKey()) }

var errUserKeyChanged = oidc.ErrInvalidGrant().WithDescription("the user's password changed, or the user is gone: sign in again")

// checkUserKey refuses a user's grant whose key is not the user's current
// one (a tenant's own grant has no user).
func (s *storage) checkUserKey(app core.App, g familyGrant) error {
	if !g.isUser() {
		return nil
	}
	user, err := app.FindRecordById(s.users, g.GetSubject())
	if err != nil || g.base().UserKey == "" || userKey(user) != g.base().UserKey {
		return errUserKeyChanged
	}
	return nil
}

type refreshRow struct {
	ID       string `db:"id"`
	Family   string `db:"family"`
	Tenant   string `db:"tenant"`
	Subject  string `db:"subject"`
	Scopes   string `db:"scopes"`
	AMR      string `db:"amr"`
	AuthTime int64  `db:"auth_time"`
	Expires  int64  `db:"expires"`
	Rotated  bool   `db:"rotated"`
	Revoked  bool   `db:"revoked"`
	UserKey  string `db:"user_key"`
}

func (s *storage) findRefreshToken(token string) (*refreshRow, error) {
	row := &refreshRow{}
	err := s.app.DB().NewQuery("SELECT [[id]], [[family]], [[tenant]], [[subject]], [[scopes]], [[amr]], [[auth_time]], [[expires]], [[rotated]], [[revoked]], [[user_key]] " +
		"FROM {{" + refreshTokensTable + "}} WHERE [[hash]] = {:hash}").Bind(dbx.Params{"hash": hashSecret(token)}).One(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, op.ErrInvalidRefreshToken
	}
	return row, err
}

// TokenRequestByRefreshToken is the grant a refresh token continues. A
// rotated or revoked token revokes its family; a user who left the tenant
// gets no new tokens.
func (s *storage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	row, err := s.findRefreshToken(token)
	if err != nil {
		return nil, err
	}
	if row.Rotated || row.Revoked {
		if err := s.revokeFamily(row.Family); err != nil {
			return nil, err
		}
		return nil, oidc.ErrInvalidGrant().WithDescription("the refresh token was already used or revoked; its family is revoked")
	}
	if time.Now().UnixMilli() >= row.Expires {
		return nil, oidc.ErrInvalidGrant().WithDescription("the refresh token has expired")
	}
	request := &refreshGrant{grant{Tenant: row.Tenant, Subject: row.Subject, AuthTime: time.UnixMilli(row.AuthTime).UTC(), Family: row.Family, UserKey: row.UserKey}}
	if err := s.checkUserKey(s.app, request); err != nil {
		if err := s.revokeFamily(row.Family); err != nil {
			return nil, err
		}
		return nil, err
	}
	if _, member, err := FindMembership(s.app, row.Tenant, row.Subject); err != nil {
		return nil, err
	} else if !member {
		if err := s.revokeFamily(row.Family); err != nil {
			return nil, err
		}
		return nil, oidc.ErrInvalidGrant().WithDescription("the user is no longer a member of the tenant")
	}
	_ = json.Unmarshal([]byte(row.Scopes), &request.Scopes)
	_ = json.Unmarshal([]byte(row.AMR), &request.AMR)
	return request, nil
}

// GetRefreshTokenInfo is the subject and id of a refresh token of clientID.
func (s *storage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	row, err := s.findRefreshToken(token)
	if err != nil {
		return "", "", err
	}
	if row.Tenant != clientID {
		return "", "", op.ErrInvalidRefreshToken
	}
	return row.Subject, row.ID, nil
}

// RevokeToken revokes a refresh token (by its id: with its whole family)
// or an access token (by its jti). Unknown tokens are not an error (RFC
// 7009); another tenant's token is refused.
func (s *storage) RevokeToken(ctx context.Context, tokenOrID, _ string, clientID string) *oidc.Error {
	var family, tenant string
	// by id when the library recognised a refresh token of this client, by
	// hash when it did not (another tenant's)
	err := s.app.DB().NewQuery("SELECT [[family]], [[tenant]] FROM {{"+refreshTokensTable+"}} WHERE [[id]] = {:id} OR [[hash]] = {:hash}").
		Bind(dbx.Params{"id": tokenOrID, "hash": hashSecret(tokenOrID)}).Row(&family, &tenant)
	if err == nil {
		if tenant != clientID {
			return oidc.ErrUnauthorizedClient().WithDescription("the token was not issued to this client")
		}
		if err := s.revokeFamily(family); err != nil {
			return oidc.ErrServerError()
		}
		return nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return oidc.ErrServerError()
	}
	err = s.app.DB().NewQuery("SELECT [[tenant]] FROM {{" + accessTokensTable + "}} WHERE [[jti]] = {:jti}").
		Bind(dbx.Params{"jti": tokenOrID}).Row(&tenant)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return oidc.ErrServerError()
	}
	if tenant != clientID {
		return oidc.ErrUnauthorizedClient().WithDescription("the token was not issued to this client")
	}
	if _, err := s.app.DB().NewQuery("UPDATE {{" + accessTokensTable + "}} SET [[revoked]] = 1 WHERE [[jti]] = {:jti}").
		Bind(dbx.Params{"jti": tokenOrID}).Execute(); err != nil {
		return oidc.ErrServerError()
	}
	return nil
}

// TerminateSession revokes every token family of the user in the tenant.
func (s *storage) TerminateSession(ctx context.Context, userID, clientID string) error {
	var families []string
	err := s.app.DB().NewQuery("SELECT DISTINCT [[family]] FROM {{" + refreshTokensTable + "}} WHERE [[tenant]] = {:tenant} AND [[subject]] = {:subject}").
		Bind(dbx.Params{"tenant": clientID, "subject": userID}).Column(&families)
	if err != nil {
		return err
	}
	for _, family := range families {
		if err := s.revokeFamily(family); err != nil {
			return err
		}
	}
	return nil
}

// revokeFamily revokes every refresh token and access token of a family.
func (s *storage) revokeFamily(family string) error {
	if family == "" {
		return nil
	}
	return s.app.RunInTransaction(func(txApp core.App) error {
		for _, table := range []string{refreshTokensTable, accessTokensTable} {
			if _, err := txApp.DB().NewQuery("UPDATE {{" + table + "}} SET [[revoked]] = 1 WHERE [[family]] = {:family}").
				Bind(dbx.Params{"family": family}).Execute(); err != nil {
				return err
			}
		}
		return nil
	})
}

// accessTokenRow is an issued access token's record.
type accessTokenRow struct {
	Tenant  string `db:"tenant"`
	Subject string `db:"subject"`
	Scopes  string `db:"scopes"`
	Expires int64  `db:"expires"`
	Revoked bool   `db:"revoked"`
}

// activeAccessToken is the record of a live access token: issued by this
// server, neither revoked nor expired.
func (s *storage) activeAccessToken(jti, subject string) (*accessTokenRow, error) {
	row := &accessTokenRow{}
	err := s.app.DB().NewQuery("SELECT [[tenant]], [[subject]], [[scopes]], [[expires]], [[revoked]] FROM {{" + accessTokensTable + "}} WHERE [[jti]] = {:jti}").
		Bind(dbx.Params{"jti": jti}).One(row)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && (row.Revoked || row.Subject != subject || time.Now().UnixMilli() >= row.Expires)) {
		return nil, oidc.ErrInvalidRequest().WithDescription("the token is not active")
	}
	return row, err
}

// scopesOf are the scopes a token was issued with.
func (s *storage) scopesOf(row *accessTokenRow) []string {
	var scopes []string
	_ = json.Unmarshal([]byte(row.Scopes), &scopes)
	return scopes
}

// deleteExpired forgets the sign-ins and tokens that can no longer be
// used: a revoked id is kept until the token it names has expired.
func (s *storage) deleteExpired() error {
	now := time.Now()
	deletes := []struct {
		table, column string
		before        time.Time
	}{
		{authRequestsTable, "created", now.Add(-authRequestLifetime)},
		{accessTokensTable, "expires", now},
		{refreshTokensTable, "expires", now},
	}
	for _, d := range deletes {
		if _, err := s.app.DB().NewQuery("DELETE FROM {{" + d.table + "}} WHERE [[" + d.column + "]] < {:before}").
			Bind(dbx.Params{"before": d.before.UnixMilli()}).Execute(); err != nil {
			return err
		}
	}
	return nil
}
