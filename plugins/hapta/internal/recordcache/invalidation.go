package recordcache

import (
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
)

// BindTo counts app's writes. PocketBase runs these hooks after the write
// has committed (at the end of its transaction), for every source: the
// REST API, /api/batch, the admin UI, Go code, pb_hooks and cascade
// deletes. A rolled-back transaction runs none of them. Writes that bypass
// PocketBase (raw SQL, another process) are not seen: the TTL bounds them.
// Each record write is also counted by ttls (when not nil).
func (v *Versions) BindTo(app core.App, ttls *DynamicTTL) {
	written := func(e *core.ModelEvent) error {
		if _, ok := e.Model.(*core.Log); ok {
			// request logs live in the auxiliary database, which no
			// collection reads: one is written for nearly every request
			return e.Next()
		}
		if _, ok := e.Model.(*core.Collection); ok {
			v.SchemaChanged()
		} else if record := recordOf(e.Model); record != nil {
			changed, known := e.Context.Value(changesKey{}).([]string)
			if e.Type == core.ModelEventTypeUpdate && known {
				v.RecordUpdated(record.Collection().Id, record.Id, changed)
			} else {
				v.RecordWritten(record.Collection().Id, record.Id)
			}
			if ttls != nil {
				ttls.Observe(record.Collection().Id, time.Now())
			}
		} else {
			v.otherWrite()
		}
		return e.Next()
	}
	// PocketBase reloads its collections as soon as a collection is saved,
	// even inside a transaction, and again when it rolls back: answers
	// computed meanwhile must not outlive either
	schemaChanging := func(e *core.CollectionEvent) error {
		v.SchemaChanged()
		err := e.Next()
		v.SchemaChanged()
		return err
	}
	app.OnCollectionCreateExecute().BindFunc(schemaChanging)
	app.OnCollectionUpdateExecute().BindFunc(schemaChanging)
	app.OnCollectionDeleteExecute().BindFunc(schemaChanging)
	failed := func(e *core.ModelErrorEvent) error {
		if _, ok := e.Model.(*core.Collection); ok {
			v.SchemaChanged()
		}
		return e.Next()
	}
	app.OnModelAfterCreateError().BindFunc(failed)
	app.OnModelAfterUpdateError().BindFunc(failed)
	app.OnModelAfterDeleteError().BindFunc(failed)
	app.OnModelUpdateExecute().Bind(&hook.Handler[*core.ModelEvent]{
		Id:       changesHookId,
		Func:     v.noteChanges,
		Priority: changesHookPriority,
	})
	app.OnModelAfterCreateSuccess().BindFunc(written)
	app.OnModelAfterUpdateSuccess().BindFunc(written)
	app.OnModelAfterDeleteSuccess().BindFunc(written)
}

// recordOf is the record a model is, or wraps: PocketBase's own wrappers
// (*core.OTP, *core.MFA, *core.AuthOrigin, *core.ExternalAuth) and any user
// type are RecordProxy.
func recordOf(model core.Model) *core.Record {
	switch model := model.(type) {
	case *core.Record:
		return model
	case core.RecordProxy:
		return model.ProxyRecord()
	}
	return nil
}
