package hapta

import (
	"log/slog"
	"net"
	"net/http"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/router"
)

// NewHTTPHandler makes a hapta handler a plain net/http handler, for any Go
// server: the same binding, validation, guards, errors and responses as
// Handle, without PocketBase's router. Register it with the same pattern:
//
//	h, err := hapta.NewHTTPHandler("POST /posts/{id}", updatePost)
//	mux.Handle("POST /posts/{id}", h)
//
// Outside PocketBase nobody is authenticated (RequireAuth answers 401),
// ctx.Services.App is nil, the services answer ErrOutsidePocketBase, the client IP
// is the connection's, and the body limit is PocketBase's default unless
// MaxBodySize says otherwise.
func NewHTTPHandler[In any](pattern string, handler HandlerFunc[In], options ...RouteOption) (http.Handler, error) {
	method, path := splitPattern(pattern)
	spec, err := newRouteSpec[In](method, path, handler, options, slog.Default())
	if err != nil {
		return nil, err
	}
	return standaloneHandler{spec}, nil
}

type standaloneHandler struct{ spec *routeSpec }

func (h standaloneHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	limit := h.spec.options.maxBody
	if limit <= 0 {
		limit = apis.DefaultMaxBodySize
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)

	response := &router.ResponseWriter{ResponseWriter: w}
	e := &core.RequestEvent{}
	e.Response, e.Request = response, r

	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	if err := h.spec.serve(e, Services{Logger: h.spec.logger, Tokens: &Tokens{}, Authenticate: &Authenticator{}, DB: &Database{}}, ip); err != nil {
		router.ErrorHandler(response, r, err)
	}
}
