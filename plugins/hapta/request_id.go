package hapta

import (
	"crypto/rand"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
)

// RequestIDHeader carries the request id in requests and every response.
const RequestIDHeader = "X-Request-ID"

const (
	requestIDKey       = "hapta.requestId"
	maxRequestIDLength = 128
)

// requestIDMiddleware gives every response of the router an X-Request-ID:
// the caller's when it is valid, otherwise a new one. It runs first, so
// that errors, 404s and recovered panics carry it too.
func requestIDMiddleware() *hook.Handler[*core.RequestEvent] {
	return &hook.Handler[*core.RequestEvent]{
		Id:       RequestIDMiddlewareId,
		Priority: RequestIDMiddlewarePriority,
		Func: func(e *core.RequestEvent) error {
			requestID(e)
			return e.Next()
		},
	}
}

// requestID returns the request's id, assigning it on first use.
func requestID(e *core.RequestEvent) string {
	if id, ok := e.Get(requestIDKey).(string); ok {
		return id
	}
	id := e.Request.Header.Get(RequestIDHeader)
	if !isValidRequestID(id) {
		id = rand.Text()
	}
	e.Response.Header().Set(RequestIDHeader, id)
	e.Set(requestIDKey, id)
	return id
}

// isValidRequestID accepts ids that are safe to echo and to log: 1 to 128
// letters, digits and - _ . :
func isValidRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}
