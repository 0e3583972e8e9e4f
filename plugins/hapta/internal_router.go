package hapta

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sync"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"

	"github.com/postr-inc/hapta/plugins/hapta/internal/recordcache"
)

// internalRouter runs PocketBase's own API in process, for the services
// that must behave exactly as it does (Authenticate, Database). It is a
// private PocketBase router with the record cache, on which a request can
// act as a given auth record.
type internalRouter struct {
	app   core.App
	cache *recordcache.Cache
	// quiet leaves the calls out of PocketBase's request log: the
	// database service's calls are the work of a request already logged
	// (logins are kept, as the audit trail of authentication)
	quiet bool

	once sync.Once
	mux  http.Handler
	err  error
}

type actAsKey struct{}

// actAs authenticates an internal request as the record in its context.
// It runs after PocketBase's token and superuser IP checks: the caller is
// Go code in this process, not a client.
func actAs() *hook.Handler[*core.RequestEvent] {
	return &hook.Handler[*core.RequestEvent]{
		Id:       "haptaActAs",
		Priority: apis.DefaultSuperuserIPsWhitelistMiddlewarePriority + 1,
		Func: func(e *core.RequestEvent) error {
			if record, ok := e.Request.Context().Value(actAsKey{}).(*core.Record); ok {
				e.Auth = record
			}
			if record, ok := recordcache.ProbeAuth(e.Request); ok {
				e.Auth = record
			}
			return e.Next()
		},
	}
}

// build makes the router once, when first used.
func (r *internalRouter) build() error {
	r.once.Do(func() {
		pbRouter, err := apis.NewRouter(routerBuildApp{r.app})
		if err == nil {
			pbRouter.Bind(realApp(r.app))
			if r.quiet {
				pbRouter.Unbind(apis.DefaultActivityLoggerMiddlewareId)
			}
			pbRouter.Bind(actAs())
			pbRouter.Bind(r.cache.Middleware(true))
			r.mux, err = pbRouter.BuildMux()
		}
		r.err = err
	})
	return r.err
}

// ServeHTTP serves a request on the router as it comes (the record cache's
// rate limit probes).
func (r *internalRouter) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if err := r.build(); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	r.mux.ServeHTTP(w, req)
}

// call sends method path with a JSON body (nil for none) as auth (nil for
// anonymous) on behalf of caller, and returns PocketBase's answer.
func (r *internalRouter) call(caller Caller, auth *core.Record, method, path string, body any) (int, []byte, error) {
	if err := r.build(); err != nil {
		return 0, nil, err
	}

	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return 0, nil, err
		}
	}
	ctx := context.Background()
	if auth != nil {
		ctx = context.WithValue(ctx, actAsKey{}, auth)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://hapta.internal"+path, bytes.NewReader(payload))
	if err != nil {
		return 0, nil, err
	}
	for name, values := range caller.Header {
		// the caller's own credentials and body framing are not forwarded
		switch http.CanonicalHeaderKey(name) {
		case "Authorization", "Cookie", "Content-Type", "Content-Length", "Transfer-Encoding":
			continue
		}
		req.Header[name] = values
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.RemoteAddr = caller.RemoteAddr
	if req.RemoteAddr == "" {
		req.RemoteAddr = "127.0.0.1:0"
	}

	response := recordcache.NewResponseBuffer()
	r.mux.ServeHTTP(response, req)
	return response.Status, response.Body, nil
}
