package testsupport

import (
	"testing"

	"github.com/pocketbase/pocketbase/core"
)

// NewAuthRecord saves a record with email and a password in the auth
// collection and returns it with a PocketBase auth token for it.
func NewAuthRecord(t testing.TB, app core.App, collection, email string) (*core.Record, string) {
	t.Helper()
	record := SaveRecord(t, app, collection, map[string]any{"email": email, "password": "password-for-tests-1"})
	token, err := record.NewAuthToken()
	if err != nil {
		t.Fatal(err)
	}
	return record, token
}
