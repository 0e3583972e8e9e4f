package recordcache

import (
	"context"
	"slices"

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

// noteChanges tells which fields an update made inside a transaction
// changes: it reads the row before and after the write, on the
// transaction's connection, which no other write can use meanwhile. An
// update outside a transaction is counted as changing everything: another
// write could commit between a read and the write, and wrapping it in a
// transaction would block a hook that writes through the app it captured.
// A record's Original() cannot tell either: a record built with NewRecord
// and MarkAsNotNew has a blank one, and another write may have committed
// since it was loaded.
func noteChanges(e *core.ModelEvent) error {
	record := recordOf(e.Model)
	if record == nil || record.Collection().IsView() || !e.App.IsTransactional() {
		return e.Next()
	}
	before, beforeErr := readRow(e.App, record)
	if err := e.Next(); err != nil {
		return err
	}
	after, afterErr := readRow(e.App, record)
	if beforeErr == nil && afterErr == nil {
		e.Context = context.WithValue(e.Context, changesKey{}, changedColumns(before, after))
	}
	return nil
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
