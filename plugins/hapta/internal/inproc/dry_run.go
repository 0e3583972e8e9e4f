package inproc

import (
	"context"
	"crypto/rand"
	"math"
	"net/http"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
)

type dryRunKey struct{}

// WithDryRunApp is WithApp for a transaction that will be rolled back: its
// record reads answer at once. PocketBase answers a list or a view inside
// a transaction only when the transaction commits, which a dry run never
// does (BindDryRunReads).
func WithDryRunApp(ctx context.Context, app core.App) context.Context {
	return context.WithValue(WithApp(ctx, app), dryRunKey{}, true)
}

// DryRunReadHandlers is how many handlers BindDryRunReads binds on each of
// the list and view request hooks.
const DryRunReadHandlers = 1

// dryRunHandlerID names hapta's handlers with a suffix drawn at start, so
// that no application's handler can replace them by id (the record cache
// counts every other handler of these hooks as a reason to bypass).
var dryRunHandlerID = "haptaDryRun" + rand.Text()[:10]

// BindDryRunReads binds, on app, the hooks that answer the record list and
// view requests of WithDryRunApp at once. Binding again replaces them.
func BindDryRunReads(app core.App) {
	app.OnRecordViewRequest().Bind(&hook.Handler[*core.RecordRequestEvent]{
		Id:       dryRunHandlerID + "View",
		Priority: math.MinInt32,
		Func: func(e *core.RecordRequestEvent) error {
			return answerDryRun(e.RequestEvent, e.Next, func() any { return e.Record })
		},
	})
	app.OnRecordsListRequest().Bind(&hook.Handler[*core.RecordsListRequestEvent]{
		Id:       dryRunHandlerID + "List",
		Priority: math.MinInt32,
		Func: func(e *core.RecordsListRequestEvent) error {
			return answerDryRun(e.RequestEvent, e.Next, func() any { return e.Result })
		},
	})
}

// answerDryRun runs the rest of the hook chain and, for a dry run's
// request that nothing answered yet, answers what PocketBase would on
// commit (e.JSON applies the fields parameter as PocketBase's does).
func answerDryRun(e *core.RequestEvent, next func() error, answer func() any) error {
	if dryRun, _ := e.Request.Context().Value(dryRunKey{}).(bool); !dryRun {
		return next()
	}
	if err := next(); err != nil {
		return err
	}
	if e.Written() {
		return nil
	}
	return e.JSON(http.StatusOK, answer())
}
