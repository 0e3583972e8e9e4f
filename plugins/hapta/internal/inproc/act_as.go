package inproc

import (
	"context"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
)

type actAsKey struct{}

type actAsValue struct{ record *core.Record }

// WithAuth marks a request's context: on a Router, the request acts as
// record (nil: anonymous), whatever its headers say.
func WithAuth(ctx context.Context, record *core.Record) context.Context {
	return context.WithValue(ctx, actAsKey{}, actAsValue{record})
}

// actAs sets the auth of a request marked by WithAuth. It runs after
// PocketBase's token and superuser IP checks: the caller is Go code in
// this process, not a client.
func actAs() *hook.Handler[*core.RequestEvent] {
	return &hook.Handler[*core.RequestEvent]{
		Id:       "haptaActAs",
		Priority: apis.DefaultSuperuserIPsWhitelistMiddlewarePriority + 1,
		Func: func(e *core.RequestEvent) error {
			if value, ok := e.Request.Context().Value(actAsKey{}).(actAsValue); ok {
				e.Auth = value.record
			}
			return e.Next()
		},
	}
}
