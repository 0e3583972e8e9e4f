package testsupport

import (
	"testing"

	"github.com/pocketbase/pocketbase/core"
)

// SaveRecord saves a new record of collection with data, as Go code would.
func SaveRecord(t testing.TB, app core.App, collection string, data map[string]any) *core.Record {
	t.Helper()
	c, err := app.FindCollectionByNameOrId(collection)
	if err != nil {
		t.Fatal(err)
	}
	record := core.NewRecord(c)
	record.Load(data)
	if err := app.Save(record); err != nil {
		t.Fatalf("saving a %s record: %v", collection, err)
	}
	return record
}
