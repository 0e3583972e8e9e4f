package recordcache

import (
	"time"

	"github.com/pocketbase/pocketbase/core"
)

// BindTo counts app's writes. PocketBase runs these hooks after the write
// has committed (at the end of its transaction), for every source: the
// REST API, /api/batch, the admin UI, Go code, pb_hooks and cascade
// deletes. A rolled-back transaction runs none of them. Writes that bypass
// PocketBase (raw SQL, another process) are not seen: the TTL bounds them.
// Each record write is also counted by ttls (when not nil).
func (v *Versions) BindTo(app core.App, ttls *DynamicTTL) {
	written := func(e *core.ModelEvent) error {
		switch model := e.Model.(type) {
		case *core.Record:
			v.RecordWritten(model.Collection().Id, model.Id)
			if ttls != nil {
				ttls.Observe(model.Collection().Id, time.Now())
			}
		case *core.Collection:
			v.SchemaChanged()
		}
		return e.Next()
	}
	app.OnModelAfterCreateSuccess().BindFunc(written)
	app.OnModelAfterUpdateSuccess().BindFunc(written)
	app.OnModelAfterDeleteSuccess().BindFunc(written)
}
