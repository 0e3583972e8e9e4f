// Package inproc runs PocketBase's own API in process: a private PocketBase
// router on which Go code sends requests that act as a given auth record,
// for the services that must behave exactly as PocketBase's endpoints do.
package inproc

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sync"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
)

// Router is a private PocketBase router, built when first used.
type Router struct {
	app         core.App
	quiet       bool
	middlewares []*hook.Handler[*core.RequestEvent]

	once sync.Once
	mux  http.Handler
	err  error
}

// New makes a router for app with PocketBase's routes and default
// middlewares, and middlewares of the caller's. A quiet router leaves its
// requests out of PocketBase's request log (they are the work of a
// request already logged).
func New(app core.App, quiet bool, middlewares ...*hook.Handler[*core.RequestEvent]) *Router {
	return &Router{app: app, quiet: quiet, middlewares: middlewares}
}

// App is the app the router serves.
func (r *Router) App() core.App { return r.app }

func (r *Router) build() error {
	r.once.Do(func() {
		pbRouter, err := apis.NewRouter(buildApp{r.app})
		if err == nil {
			pbRouter.Bind(realApp(r.app))
			if r.quiet {
				pbRouter.Unbind(apis.DefaultActivityLoggerMiddlewareId)
			}
			pbRouter.Bind(actAs())
			for _, middleware := range r.middlewares {
				pbRouter.Bind(middleware)
			}
			r.mux, err = pbRouter.BuildMux()
		}
		r.err = err
	})
	return r.err
}

// ServeHTTP serves a request as it comes; one whose context has WithAuth
// acts as that record.
func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if err := r.build(); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	r.mux.ServeHTTP(w, req)
}

// Call sends method path with a JSON body (nil for none) as auth (nil for
// anonymous), from the client at remoteAddr with header (its credentials
// and body framing, content codings and conditions left out), and returns
// PocketBase's answer.
func (r *Router) Call(remoteAddr string, header http.Header, auth *core.Record, method, path string, body any) (int, []byte, error) {
	return r.CallContext(context.Background(), remoteAddr, header, auth, method, path, body)
}

// CallContext is Call with a context, which may carry WithApp.
func (r *Router) CallContext(ctx context.Context, remoteAddr string, header http.Header, auth *core.Record, method, path string, body any) (int, []byte, error) {
	response, err := r.Send(ctx, remoteAddr, header, auth, method, path, body)
	if err != nil {
		return 0, nil, err
	}
	return response.Status, response.Body, nil
}

// Send is CallContext returning the response buffer, which a write inside
// a transaction (WithApp) fills only when the transaction commits.
func (r *Router) Send(ctx context.Context, remoteAddr string, header http.Header, auth *core.Record, method, path string, body any) (*ResponseBuffer, error) {
	if err := r.build(); err != nil {
		return nil, err
	}
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	req, err := http.NewRequestWithContext(WithAuth(ctx, auth), method, "http://hapta.internal"+path, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	for name, values := range header {
		switch http.CanonicalHeaderKey(name) {
		case "Authorization", "Cookie", "Content-Type", "Content-Length", "Transfer-Encoding",
			// the caller wants the JSON itself, not a 304 or gzip
			"Accept-Encoding", "If-None-Match", "If-Modified-Since":
			continue
		}
		req.Header[name] = values
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.RemoteAddr = remoteAddr
	if req.RemoteAddr == "" {
		req.RemoteAddr = "127.0.0.1:0"
	}
	response := NewResponseBuffer()
	r.mux.ServeHTTP(response, req)
	return response, nil
}
