package recordcache

import (
	"context"
	"io"
	"net/http"
	"strings"

	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/plugins/hapta/internal/inproc"
)

// rateLimits counts a HIT against PocketBase's collection rate limits
// (`posts:list`, `*:view`, ...), which PocketBase checks inside its record
// handlers, where a HIT does not go, and whose limiter it does not export.
// A HIT is counted by PocketBase itself: the same request, marked as a
// probe, goes to PocketBase's handler on a private router, with a body that
// PocketBase refuses right after its rate limit check, before any query.
type rateLimits struct {
	// probe is a PocketBase router on which a request acts as the auth
	// record of inproc.WithAuth
	probe http.Handler
}

// CountRateLimitsWith sets the router that counts HITs against PocketBase's
// rate limits: a quiet inproc.Router of the app.
func (c *Cache) CountRateLimitsWith(probe http.Handler) { c.limits.probe = probe }

type probeKey struct{}

func isRateLimitProbe(r *http.Request) bool {
	return r.Context().Value(probeKey{}) != nil
}

// count refuses a HIT over PocketBase's rate limits, as PocketBase would
// have refused the request, and counts it otherwise.
func (l *rateLimits) count(e *core.RequestEvent) error {
	limits := e.App.Settings().RateLimits
	if l.probe == nil || !limits.Enabled || e.HasSuperuserAuth() || len(limits.Rules) == 0 {
		return nil // PocketBase skips its limits alike
	}
	marked := context.WithValue(inproc.WithAuth(e.Request.Context(), e.Auth), probeKey{}, true)
	probe := e.Request.Clone(marked)
	probe.Header.Del("Authorization") // the auth is in the context
	probe.Header.Set("Content-Type", "application/json")
	probe.Body = io.NopCloser(strings.NewReader("{")) // refused once the limit is counted
	probe.ContentLength = 1
	answer := inproc.NewResponseBuffer()
	l.probe.ServeHTTP(answer, probe)
	if answer.Status == http.StatusTooManyRequests {
		return e.TooManyRequestsError("", nil)
	}
	return nil
}
