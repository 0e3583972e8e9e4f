package recordcache

import (
	"context"
	"io"
	"net/http"
	"strings"

	"github.com/pocketbase/pocketbase/core"
)

// rateLimits counts a HIT against PocketBase's collection rate limits
// (`posts:list`, `*:view`, ...), which PocketBase checks inside its record
// handlers, where a HIT does not go, and whose limiter it does not export.
// A HIT is counted by PocketBase itself: the same request, marked as a
// probe, goes to PocketBase's handler on a private router, with a body that
// PocketBase refuses right after its rate limit check, before any query.
type rateLimits struct {
	// probe is a PocketBase router on which isRateLimitProbe requests act
	// as the auth record in their context (see ProbeAuth)
	probe http.Handler
}

// CountRateLimitsWith sets the router that counts HITs against PocketBase's
// rate limits: a private PocketBase router (apis.NewRouter) that leaves its
// requests out of the request log and sets e.Auth to ProbeAuth(request).
func (c *Cache) CountRateLimitsWith(probe http.Handler) { c.limits.probe = probe }

type probeKey struct{}

// ProbeAuth is the auth record a rate limit probe acts as (nil: anonymous),
// and whether the request is a probe.
func ProbeAuth(r *http.Request) (*core.Record, bool) {
	auth, ok := r.Context().Value(probeKey{}).(probeAuth)
	return auth.record, ok
}

type probeAuth struct{ record *core.Record }

func isRateLimitProbe(r *http.Request) bool {
	_, ok := ProbeAuth(r)
	return ok
}

// count refuses a HIT over PocketBase's rate limits, as PocketBase would
// have refused the request, and counts it otherwise.
func (l *rateLimits) count(e *core.RequestEvent) error {
	limits := e.App.Settings().RateLimits
	if l.probe == nil || !limits.Enabled || e.HasSuperuserAuth() || len(limits.Rules) == 0 {
		return nil // PocketBase skips its limits alike
	}
	probe := e.Request.Clone(context.WithValue(e.Request.Context(), probeKey{}, probeAuth{e.Auth}))
	probe.Header.Del("Authorization") // the auth is in the context
	probe.Header.Set("Content-Type", "application/json")
	probe.Body = io.NopCloser(strings.NewReader("{")) // refused once the limit is counted
	probe.ContentLength = 1
	answer := NewResponseBuffer()
	l.probe.ServeHTTP(answer, probe)
	if answer.Status == http.StatusTooManyRequests {
		return e.TooManyRequestsError("", nil)
	}
	return nil
}
