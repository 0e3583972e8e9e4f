package realtime

import (
	"fmt"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/search"
)

// What follows does for a realtime message what PocketBase's record API
// helpers (unexported) do: the enrich hooks around each record, the
// expand fetch that applies each related collection's view rule for the
// caller, and the flags that unhide fields for superusers and show emails
// to their owners and managers.

// enrich runs app's OnRecordEnrich hooks over records, one inside the
// other, with then at the innermost.
func enrich(app core.App, ri *core.RequestInfo, records []*core.Record, then func() error) error {
	event := &core.RecordEnrichEvent{RequestInfo: ri}
	event.App = app
	var step func(i int) error
	step = func(i int) error {
		if i == len(records) {
			return then()
		}
		event.Record = records[i]
		return app.OnRecordEnrich().Trigger(event, func(e *core.RecordEnrichEvent) error {
			event.App = e.App // a hook may run the rest in a transaction
			err := step(i + 1)
			event.App, event.Record = app, records[i]
			return err
		})
	}
	if len(records) == 0 {
		return then()
	}
	return step(0)
}

// expandFetch loads related records for an expand, as the caller of ri may
// see them.
func expandFetch(app core.App, ri *core.RequestInfo) core.ExpandFetchFunc {
	expandInfo := *ri
	expandInfo.Context = core.RequestInfoContextExpand
	return func(related *core.Collection, ids []string) ([]*core.Record, error) {
		records, err := app.FindRecordsByIds(related.Id, ids, func(q *dbx.SelectQuery) error {
			if expandInfo.HasSuperuserAuth() {
				return nil
			}
			if related.ViewRule == nil {
				return fmt.Errorf("only superusers can view collection %q records", related.Name)
			}
			if *related.ViewRule == "" {
				return nil
			}
			return applyRule(app, related, &expandInfo, *related.ViewRule, q)
		})
		if err != nil {
			return nil, err
		}
		err = enrich(app, &expandInfo, records, func() error {
			if err := resolveFlags(app, records, &expandInfo); err != nil {
				app.Logger().Warn("realtime: the expanded records' flags", "error", err)
			}
			return nil
		})
		return records, err
	}
}

func applyRule(app core.App, collection *core.Collection, ri *core.RequestInfo, rule string, q *dbx.SelectQuery) error {
	resolver := core.NewRecordFieldResolver(app, collection, ri, true)
	expr, err := search.FilterData(rule).BuildExpr(resolver)
	if err != nil {
		return err
	}
	q.AndWhere(expr)
	return resolver.UpdateQuery(q)
}

// resolveFlags unhides every field for a superuser, and shows the emails
// of auth records to their owner and to whoever passes the manage rule.
func resolveFlags(app core.App, records []*core.Record, ri *core.RequestInfo) error {
	if len(records) == 0 {
		return nil
	}
	collection := records[0].Collection()
	if ri.HasSuperuserAuth() {
		for _, r := range records {
			r.Unhide(collection.Fields.FieldNames()...)
			r.IgnoreEmailVisibility(true)
		}
	}
	if !collection.IsAuth() {
		return nil
	}
	byID := make(map[string]*core.Record, len(records))
	ids := make([]any, len(records))
	for i, r := range records {
		byID[r.Id] = r
		ids[i] = r.Id
	}
	if ri.Auth != nil && byID[ri.Auth.Id] != nil {
		byID[ri.Auth.Id].IgnoreEmailVisibility(true)
	}
	if collection.ManageRule == nil || *collection.ManageRule == "" {
		return nil
	}
	table := app.ConcurrentDB().QuoteSimpleColumnName(collection.Name)
	q := app.RecordQuery(collection).Select(table + ".id").AndWhere(dbx.In(table+".id", ids...))
	if err := applyRule(app, collection, ri, *collection.ManageRule, q); err != nil {
		return err
	}
	var managed []string
	if err := q.Column(&managed); err != nil {
		return err
	}
	for _, id := range managed {
		if r := byID[id]; r != nil {
			r.IgnoreEmailVisibility(true)
		}
	}
	return nil
}
