package hapta

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

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

// A kept record is each request's own: a handler that changes a value of
// e.Auth in place (a slice) changes it for its request only, as with
// PocketBase's loader, which reads the record anew each time.
func TestAKeptAuthRecordIsEachRequestsOwn(t *testing.T) {
	t.Parallel()
	app, server := soundApp(t, []string{"notes"}, func(app core.App) {
		newCollection(t, app, "notes", types.Pointer(""), &core.TextField{Name: "title"})
		users, err := app.FindCollectionByNameOrId("users")
		if err != nil {
			t.Fatal(err)
		}
		users.Fields.Add(&core.SelectField{Name: "roles", MaxSelect: 2, Values: []string{"reader", "editor"}})
		if err := app.Save(users); err != nil {
			t.Fatal(err)
		}
		app.OnServe().BindFunc(func(se *core.ServeEvent) error {
			se.Router.GET("/roles", func(e *core.RequestEvent) error {
				if e.Auth == nil {
					return e.UnauthorizedError("", nil)
				}
				roles, _ := e.Auth.GetRaw("roles").([]string)
				answer := strings.Join(roles, ",")
				if len(roles) > 0 {
					roles[0] = "changed in place"
				}
				return e.String(http.StatusOK, answer)
			})
			return se.Next()
		})
	})
	user, token := testsupport.NewAuthRecord(t, app, "users", "roles@example.com")
	user.Set("roles", []string{"reader", "editor"})
	if err := app.Save(user); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		answer := testsupport.Call(t, "GET", server.URL+"/roles", "", nil, "Authorization", token)
		if answer.Status != http.StatusOK || string(answer.Raw) != "reader,editor" {
			t.Fatalf("request %d: %d %q", i, answer.Status, answer.Raw)
		}
	}
}
