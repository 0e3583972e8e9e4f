package inproc

import (
	"context"
	"math"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
)

// buildApp is the app as apis.NewRouter sees it when a Router is built.
// NewRouter binds PocketBase's realtime broadcasts and the admin UI's
// routes on the app's hooks, which the public router has done already:
// bound twice, every realtime message went out twice (and the UI routes
// would clash). Here those hooks are spare ones that nothing triggers;
// requests on the router see the real app again (realApp).
type buildApp struct{ core.App }

func (buildApp) OnServe() *hook.Hook[*core.ServeEvent] { return &hook.Hook[*core.ServeEvent]{} }

func (buildApp) OnCollectionUpdate(...string) *hook.TaggedHook[*core.CollectionEvent] {
	return spareHook[*core.CollectionEvent]()
}

func (buildApp) OnCollectionAfterDeleteSuccess(...string) *hook.TaggedHook[*core.CollectionEvent] {
	return spareHook[*core.CollectionEvent]()
}

func (buildApp) OnModelAfterCreateSuccess(...string) *hook.TaggedHook[*core.ModelEvent] {
	return spareHook[*core.ModelEvent]()
}

func (buildApp) OnModelAfterUpdateSuccess(...string) *hook.TaggedHook[*core.ModelEvent] {
	return spareHook[*core.ModelEvent]()
}

func (buildApp) OnModelAfterDeleteSuccess(...string) *hook.TaggedHook[*core.ModelEvent] {
	return spareHook[*core.ModelEvent]()
}

func (buildApp) OnModelDelete(...string) *hook.TaggedHook[*core.ModelEvent] {
	return spareHook[*core.ModelEvent]()
}

func (buildApp) OnModelAfterDeleteError(...string) *hook.TaggedHook[*core.ModelErrorEvent] {
	return spareHook[*core.ModelErrorEvent]()
}

func spareHook[T hook.Tagger]() *hook.TaggedHook[T] { return hook.NewTaggedHook(&hook.Hook[T]{}) }

type appKey struct{}

// WithApp marks a request's context: on a Router, the request runs on app
// instead of the router's, such as a transaction's app (txApp), so that
// PocketBase's handlers and hooks write inside that transaction.
func WithApp(ctx context.Context, app core.App) context.Context {
	return context.WithValue(ctx, appKey{}, app)
}

// realApp puts the real app back into the router's request events (the
// router's event factory sets the app it was built with), or the app of
// WithApp, before any other middleware runs.
func realApp(app core.App) *hook.Handler[*core.RequestEvent] {
	return &hook.Handler[*core.RequestEvent]{
		Id:       "haptaRealApp",
		Priority: math.MinInt32,
		Func: func(e *core.RequestEvent) error {
			e.App = app
			if marked, ok := e.Request.Context().Value(appKey{}).(core.App); ok {
				e.App = marked
			}
			return e.Next()
		},
	}
}
