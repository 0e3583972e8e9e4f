package migrations

import (
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
	"github.com/pocketbase/pocketbase/tools/types"
)

// events are the example app's analytics: anyone records one (through
// POST /api/events, deferred or not), superusers read them.
func init() {
	m.Register(func(app core.App) error {
		events := core.NewBaseCollection("events")
		events.CreateRule = types.Pointer("")
		events.Fields.Add(
			&core.TextField{Name: "name", Required: true, Max: 100},
			&core.JSONField{Name: "payload", MaxSize: 4096},
			&core.AutodateField{Name: "created", OnCreate: true},
		)
		events.AddIndex("idx_events_name", false, "name", "")
		return app.Save(events)
	}, func(app core.App) error {
		events, err := app.FindCollectionByNameOrId("events")
		if err != nil {
			return err
		}
		return app.Delete(events)
	})
}
