package testsupport

import (
	"testing"

	"github.com/pocketbase/pocketbase/core"
)

// NewAuthRecord saves a record with email and a password in the auth
// collection and returns it with a PocketBase auth token for it.
func NewAuthRecord(t testing.TB, app core.App, collection, email string) (*core.Record, string) {
	t.Helper()
	c, err := app.FindCollectionByNameOrId(collection)
	if err != nil {
		t.Fatal(err)
	}
	record := core.NewRecord(c)
	record.SetEmail(email)
	record.SetPassword("password-for-tests-1")
	if err := app.Save(record); err != nil {
		t.Fatal(err)
	}
	token, err := record.NewAuthToken()
	if err != nil {
		t.Fatal(err)
	}
	return record, token
}
