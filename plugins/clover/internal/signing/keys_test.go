package signing

import (
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/internal/testsupport"
)

func sign(t *testing.T, key *Key) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: Algorithm, Key: key.Private},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader(jose.HeaderKey("kid"), key.ID))
	if err != nil {
		t.Fatal(err)
	}
	token, err := jwt.Signed(signer).Claims(jwt.Claims{Subject: "someone"}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// verifies reports whether a token verifies with the published keys.
func verifies(t *testing.T, keys *Keys, token string) bool {
	t.Helper()
	set, err := keys.Published()
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{Algorithm})
	if err != nil {
		t.Fatal(err)
	}
	found := set.Key(parsed.Headers[0].KeyID)
	if len(found) == 0 {
		return false
	}
	var claims jwt.Claims
	return parsed.Claims(found[0].Key, &claims) == nil && claims.Subject == "someone"
}

func TestKeysRotateAndStayPublishedWhileTheirTokensLive(t *testing.T) {
	t.Parallel()
	app := testsupport.NewApp(t, func(core.App) {})
	keys, err := Open(app, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	first, err := keys.Active()
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := keys.Active(); again.ID != first.ID {
		t.Fatal("Active made a second key")
	}
	old := sign(t, first)
	second, err := keys.Rotate()
	if err != nil || second.ID == first.ID {
		t.Fatal(second, err)
	}
	if active, _ := keys.Active(); active.ID != second.ID {
		t.Fatalf("the active key after a rotation: %s", active.ID)
	}
	if !verifies(t, keys, old) || !verifies(t, keys, sign(t, second)) {
		t.Fatal("a retired key's tokens or the new key's do not verify")
	}
	time.Sleep(400 * time.Millisecond) // the retired key's tokens have expired
	if verifies(t, keys, old) {
		t.Fatal("a key retired longer than a token lives is still published")
	}
	if _, err := keys.Rotate(); err != nil { // and it is dropped
		t.Fatal(err)
	}
	var n int
	if err := app.DB().NewQuery("SELECT COUNT(*) FROM " + table).Row(&n); err != nil || n != 2 {
		t.Fatalf("%d keys kept, want the active and the just retired: %v", n, err)
	}
	// published keys are public only
	set, _ := keys.Published()
	for _, k := range set.Keys {
		if !k.IsPublic() || k.KeyID == "" || k.Algorithm != "RS256" || k.Use != "sig" {
			t.Fatalf("a published key: %+v", k)
		}
	}
}
