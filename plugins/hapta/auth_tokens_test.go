package hapta

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/internal/testsupport"
)

func TestHaptaTokens(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, t.TempDir(), `{"JWT_SECRET": "`+jwtSecret+`"}`)
	if err := app.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		Handle(se, "GET /whoami", func(ctx *Context, _ emptyInput) error { return ctx.JSON(http.StatusOK, ctx.Principal) }, RequireAuth())
		return se.Next()
	})
	server, err := app.serve(t)
	if err != nil {
		t.Fatal(err)
	}
	user, _ := testsupport.NewAuthRecord(t, app, "users", "token-user@example.com")
	tokens := ServicesOf(app).Tokens

	whoami := func(token string) (int, Principal) {
		t.Helper()
		res := testsupport.Call(t, "GET", server.URL+"/whoami", "", nil, "Authorization", "Bearer "+token)
		var p Principal
		if res.Status == 200 {
			res.Decode(t, &p)
		}
		return res.Status, p
	}

	token, err := tokens.Issue(user, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	status, p := whoami(token)
	if status != 200 || p.ID != user.Id || p.Strategy != StrategyHaptaToken ||
		p.ExpiresAt.Before(time.Now().Add(4*time.Minute)) || p.ExpiresAt.After(time.Now().Add(6*time.Minute)) {
		t.Fatalf("a valid token: %d %+v", status, p)
	}

	// PocketBase's own API accepts it too
	res := testsupport.Call(t, "POST", server.URL+"/api/collections/users/auth-refresh", "", nil, "Authorization", token)
	if res.Status != 200 {
		t.Fatalf("auth-refresh with a hapta token: %d %s", res.Status, res.Raw)
	}

	sign := func(method jwt.SigningMethod, key any, change func(jwt.MapClaims)) string {
		now := time.Now()
		claims := jwt.MapClaims{"iss": "hapta", "aud": "hapta", "sub": user.Id, "col": user.Collection().Id,
			"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": "x"}
		change(claims)
		signed, err := jwt.NewWithClaims(method, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return signed
	}
	goodKey := []byte(jwtSecret + user.TokenKey())
	same := func(jwt.MapClaims) {}
	if status, _ := whoami(sign(jwt.SigningMethodHS256, goodKey, same)); status != 200 {
		t.Fatalf("the test's own well-formed token is refused: %d", status)
	}

	refused := map[string]string{
		"forged (another secret)": sign(jwt.SigningMethodHS256, []byte(strings.Repeat("k", 40)+user.TokenKey()), same),
		"expired":                 sign(jwt.SigningMethodHS256, goodKey, func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Second).Unix() }),
		"no expiry":               sign(jwt.SigningMethodHS256, goodKey, func(c jwt.MapClaims) { delete(c, "exp") }),
		"wrong audience":          sign(jwt.SigningMethodHS256, goodKey, func(c jwt.MapClaims) { c["aud"] = "someone-else" }),
		"wrong issuer":            sign(jwt.SigningMethodHS256, goodKey, func(c jwt.MapClaims) { c["iss"] = "evil" }),
		"issued in the future":    sign(jwt.SigningMethodHS256, goodKey, func(c jwt.MapClaims) { c["iat"] = time.Now().Add(time.Hour).Unix() }),
		"alg none":                sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, same),
		"HS512":                   sign(jwt.SigningMethodHS512, goodKey, same),
		"another subject":         sign(jwt.SigningMethodHS256, goodKey, func(c jwt.MapClaims) { c["sub"] = "aaaaaaaaaaaaaaa" }),
		"tampered":                token[:len(token)-2] + "xx",
	}
	for name, bad := range refused {
		if status, _ := whoami(bad); status != 401 {
			t.Errorf("%s: %d, want 401", name, status)
		}
	}

	// a password change renews the tokenKey: issued tokens stop working
	user.SetPassword("a-new-password-123")
	if err := app.Save(user); err != nil {
		t.Fatal(err)
	}
	if status, _ := whoami(token); status != 401 {
		t.Fatalf("a token survived a password change: %d", status)
	}

	for _, lifetime := range []time.Duration{-time.Second, MaxTokenLifetime + time.Second} {
		if _, err := tokens.Issue(user, lifetime); err == nil {
			t.Errorf("lifetime %s accepted", lifetime)
		}
	}
	if _, err := tokens.Issue(core.NewRecord(core.NewBaseCollection("posts")), 0); err == nil {
		t.Error("a token for a record of a base collection")
	}
}
