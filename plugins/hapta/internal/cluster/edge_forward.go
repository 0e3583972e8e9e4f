package cluster

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
	"github.com/pocketbase/pocketbase/tools/router"

	"github.com/postr-inc/hapta/plugins/hapta/internal/recordcache"
)

// clientIPKey holds the client's address in a forwarded request's context.
type clientIPKey struct{}

// requestIDHeader is hapta's request id header: the edge's id goes on to
// the primary, which keeps it.
const requestIDHeader = "X-Request-ID"

// healthPath is PocketBase's health route: an edge answers it itself
// (PocketBase's handler, with the cluster's state added).
const healthPath = "/api/health"

// newForwarder is the reverse proxy to the primary: the client's address
// goes in X-Forwarded-For (the primary's trusted-proxy setting reads it),
// answers stream as they come (realtime), and the primary's CORS and
// request id headers are dropped for the edge's own.
func newForwarder(primary *url.URL, transport http.RoundTripper, logger *slog.Logger) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Transport:     transport,
		FlushInterval: -1,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(primary)
			pr.SetXForwarded()
			pr.Out.Header.Set("X-Forwarded-For", clientAddress(pr.In))
			if body, ok := pr.Out.Body.(*router.RereadableReadCloser); ok {
				// PocketBase's copy rewinds at its end: the transport
				// would send the body twice. Nothing read it on the edge.
				pr.Out.Body = body.ReadCloser
			}
		},
		ModifyResponse: func(response *http.Response) error {
			dropPrimaryOwnHeaders(response.Header)
			method := response.Request.Method
			if seq := response.Header.Get(SeqHeader); seq != "" && method != http.MethodGet && method != http.MethodHead {
				// read-your-writes for browsers: their next reads carry it
				response.Header.Add("Set-Cookie", (&http.Cookie{
					Name: SeqCookie, Value: seq, Path: "/", MaxAge: 300, HttpOnly: true, SameSite: http.SameSiteLaxMode,
				}).String())
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, r.Context().Err()) {
				return // the client went away
			}
			logger.Debug("cluster: the primary did not answer", "error", err)
			writeUnavailable(w)
		},
	}
}

// clientAddress is the client's address as PocketBase reads it on the edge
// (its own trusted-proxy setting), not the last hop's.
func clientAddress(in *http.Request) string {
	if ip, ok := in.Context().Value(clientIPKey{}).(string); ok {
		return ip
	}
	host, _, _ := net.SplitHostPort(in.RemoteAddr)
	return host
}

// dropPrimaryOwnHeaders drops the primary's CORS and request id headers:
// the edge's own middlewares set them.
func dropPrimaryOwnHeaders(header http.Header) {
	for _, name := range []string{
		"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Expose-Headers",
		"Access-Control-Allow-Methods", "Access-Control-Allow-Headers", "Access-Control-Max-Age", requestIDHeader,
	} {
		header.Del(name)
	}
}

// ask sends a cached read (a GET without a body) to the primary and reads
// its whole answer; a failure of either is a 503. Unlike the proxy, it
// does not panic when the answer breaks off: it runs in a load that
// concurrent misses share, outside the server's goroutine.
func (e *Edge) ask(in *http.Request) *capture {
	target := *e.config.Primary
	target.Path, target.RawPath, target.RawQuery = in.URL.Path, in.URL.RawPath, in.URL.RawQuery
	out := in.Clone(in.Context())
	out.URL, out.Host, out.RequestURI, out.Body = &target, "", "", nil
	for _, name := range []string{"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade"} {
		out.Header.Del(name)
	}
	out.Header.Set("X-Forwarded-For", clientAddress(in))
	out.Header.Set("X-Forwarded-Host", in.Host)
	out.Header.Set("X-Forwarded-Proto", "http")
	if in.TLS != nil {
		out.Header.Set("X-Forwarded-Proto", "https")
	}
	captured := newCapture()
	response, err := e.client.Do(out)
	if err != nil {
		e.logger.Debug("cluster: the primary did not answer", "error", err)
		writeUnavailable(captured)
		return captured
	}
	defer response.Body.Close()
	body, err := io.ReadAll(response.Body)
	if err != nil {
		e.logger.Debug("cluster: the primary's answer broke off", "error", err)
		writeUnavailable(captured)
		return captured
	}
	dropPrimaryOwnHeaders(response.Header)
	captured.header, captured.status = response.Header, response.StatusCode
	captured.body.Write(body)
	return captured
}

// writeUnavailable answers 503 in PocketBase's error shape.
func writeUnavailable(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Retry-After", "1")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte(`{"status":503,"message":"The primary server is unavailable; try again later.","data":{}}`))
}

// Middleware answers every request of the edge's router but its health
// and statistics: cached reads from the cache, the rest from the primary.
// It runs right after hapta's request id and CORS middlewares (at their
// priority, bound after them), before PocketBase's others: the primary
// runs those.
func (e *Edge) Middleware(id string, priority int, statsPath string) *hook.Handler[*core.RequestEvent] {
	return &hook.Handler[*core.RequestEvent]{
		Id:       id,
		Priority: priority,
		Func: func(re *core.RequestEvent) error {
			// the cluster's own request headers come from edges only
			re.Request.Header.Del(recordcache.EdgeRequestHeader)
			switch path := re.Request.URL.Path; {
			case path == healthPath:
				return re.Next()
			case path == statsPath && re.Request.Method == http.MethodGet:
				return e.serveStats(re)
			case e.reads.isCachedRead(re.Request):
				err := e.reads.serve(re)
				if !errors.Is(err, errNotCacheable) {
					return err
				}
			}
			e.stats.forwarded.Add(1)
			e.forward.ServeHTTP(re.Response, forwardable(re))
			return nil
		},
	}
}

// forwardable is the request as it goes on to the primary: with the
// edge's request id, and the client's address as PocketBase reads it here.
// A HIT needs neither: it is made only for what reaches the primary.
func forwardable(re *core.RequestEvent) *http.Request {
	req := re.Request.WithContext(context.WithValue(re.Request.Context(), clientIPKey{}, re.RealIP()))
	req.Header.Set(requestIDHeader, re.Response.Header().Get(requestIDHeader))
	return req
}

// serveStats answers the edge's statistics to a superuser of the primary.
func (e *Edge) serveStats(re *core.RequestEvent) error {
	token := re.Request.Header.Get("Authorization")
	if token == "" {
		return router.NewUnauthorizedError("The request requires valid superuser authorization token.", nil)
	}
	identity, err := e.reads.identity(re.Request, token, e.clock.Load())
	switch {
	case err != nil:
		writeUnavailable(re.Response)
		return nil
	case identity.caller.Anonymous:
		return router.NewUnauthorizedError("The request requires valid superuser authorization token.", nil)
	case !identity.caller.Superuser:
		return router.NewForbiddenError("The request requires valid superuser authorization token.", nil)
	}
	return re.JSON(http.StatusOK, e.Stats())
}
