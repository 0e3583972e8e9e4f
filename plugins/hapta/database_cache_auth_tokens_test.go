package hapta

import (
	"net/http"
	"testing"
	"time"

	"github.com/postr-inc/hapta/internal/testsupport"
)

// With the cache on, a verified token is kept, and stops working as soon
// as PocketBase's own check would refuse it: a new password, a deleted
// user, a new secret of its collection, its expiry.
func TestAKeptAuthTokenEndsWhenPocketBaseWouldRefuseIt(t *testing.T) {
	t.Parallel()
	app, server := cachedApp(t)
	refresh := func(token string) int {
		t.Helper()
		return testsupport.CallJSON(t, "POST", server.URL+"/api/collections/users/auth-refresh", "", "Authorization", token).Status
	}
	expect := func(step, token string, want int) {
		t.Helper()
		for range 2 { // verified, then kept
			if got := refresh(token); got != want {
				t.Fatalf("%s: %d, want %d", step, got, want)
			}
		}
	}

	user, token := testsupport.NewAuthRecord(t, app, "users", "kept@example.com")
	expect("a valid token", token, http.StatusOK)
	expect("with a Bearer prefix", "Bearer "+token, http.StatusOK)
	user.SetPassword("a-new-password-123")
	if err := app.Save(user); err != nil {
		t.Fatal(err)
	}
	expect("after a new password", token, http.StatusUnauthorized)

	_, token = testsupport.NewAuthRecord(t, app, "users", "secret@example.com")
	expect("another user's token", token, http.StatusOK)
	users, err := app.FindCollectionByNameOrId("users")
	if err != nil {
		t.Fatal(err)
	}
	users.AuthToken.Secret = "a-new-secret-of-the-users-collection-1234567890"
	if err := app.Save(users); err != nil {
		t.Fatal(err)
	}
	expect("after a new secret", token, http.StatusUnauthorized)

	gone, token := testsupport.NewAuthRecord(t, app, "users", "gone@example.com")
	expect("a token of a user to delete", token, http.StatusOK)
	if err := app.Delete(gone); err != nil {
		t.Fatal(err)
	}
	expect("after its user is deleted", token, http.StatusUnauthorized)

	expiring, _ := testsupport.NewAuthRecord(t, app, "users", "expiring@example.com")
	token, err = expiring.NewStaticAuthToken(2 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	expect("a token of 2 seconds", token, http.StatusOK)
	time.Sleep(2100 * time.Millisecond)
	expect("once it expired", token, http.StatusUnauthorized)
}
