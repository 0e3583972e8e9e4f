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
	// hooks (bound at -99), so that their writes happen between its reads
	changesHookPriority = -100
)

// changesKey holds, in an update's event context, the names of the
// columns it changed.
type changesKey struct{}

// noteChanges tells which fields an update changes: it reads the row
// before and after the write, in one transaction, so that no other write
// comes between. A record's Original() cannot tell: a record built with
// NewRecord and MarkAsNotNew has a blank one, and another write may have
// committed since it was loaded. When the rows cannot be read, the update
// is counted as changing everything.
func noteChanges(e *core.ModelEvent) error {
	record := recordOf(e.Model)
	if record == nil || record.Collection().IsView() {
		return e.Next()
	}
	original := e.App
	defer func() { e.App = original }()
	var changed []string
	known := false
	err := original.RunInTransaction(func(tx core.App) error {
		before, beforeErr := readRow(tx, record)
		e.App = tx
		if err := e.Next(); err != nil {
			return err
		}
		after, afterErr := readRow(tx, record)
		if beforeErr == nil && afterErr == nil {
			changed, known = changedColumns(before, after), true
		}
		return nil
	})
	if err == nil && known {
		e.Context = context.WithValue(e.Context, changesKey{}, changed)
	}
	return err
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
