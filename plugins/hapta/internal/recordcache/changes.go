package recordcache

import (
	"context"
	"slices"
	"sync/atomic"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

const (
	changesHookId = "haptaRecordCacheChanges"
	// changesHookPriority runs noteChanges around PocketBase's own record
	// hooks (bound at -99), so that their changes happen between its reads
	changesHookPriority = -100
)

// changesKey holds, in an update's event context, the names of the
// columns it changed.
type changesKey struct{}

// noteChanges tells which fields an update changes: it reads the row
// before and after the write. No transaction is opened around it (a hook
// that writes through the app it captured would wait for the connection
// forever), so another update of the same record could commit between the
// reads: the update is then counted as changing everything. Every update
// says it is running (updates.running) before it counts itself begun
// (updates.begun), so an update that overlaps this one either is running
// when this one starts, or begins after: either is seen. A record's
// Original() cannot tell the changes: a record built with NewRecord and
// MarkAsNotNew has a blank one, and another write may have committed since
// it was loaded. When a row cannot be read, the update counts as changing
// everything too.
func (v *Versions) noteChanges(e *core.ModelEvent) error {
	record := recordOf(e.Model)
	if record == nil || record.Collection().IsView() {
		return e.Next()
	}
	stripe := v.stripe(record.Collection().Id, record.Id)
	running, begun := &v.updates.running[stripe], &v.updates.begun[stripe]
	running.Add(1)
	defer running.Add(-1)
	begun.Add(1)
	began := begun.Load()
	alone := running.Load() == 1

	before, beforeErr := readRow(e.App, record)
	if err := e.Next(); err != nil {
		return err
	}
	after, afterErr := readRow(e.App, record)
	if alone && begun.Load() == began && beforeErr == nil && afterErr == nil {
		e.Context = context.WithValue(e.Context, changesKey{}, changedColumns(before, after))
	}
	return nil
}

// updates counts the updates of records, by record stripe, for
// noteChanges to see those that overlap.
type updates struct {
	running [recordStripes]atomic.Int32
	begun   [recordStripes]atomic.Uint64
}

func readRow(app core.App, record *core.Record) (dbx.NullStringMap, error) {
	row := dbx.NullStringMap{}
	err := app.NonconcurrentDB().Select("*").From(record.Collection().Name).
		Where(dbx.HashExp{"id": record.Id}).One(row)
	return row, err
}

// changedColumns names the columns whose values differ, in a stable order.
func changedColumns(before, after dbx.NullStringMap) []string {
	changed := []string{}
	for column, value := range after {
		if old, ok := before[column]; !ok || old != value {
			changed = append(changed, column)
		}
	}
	for column := range before {
		if _, ok := after[column]; !ok {
			changed = append(changed, column)
		}
	}
	slices.Sort(changed)
	return changed
}
