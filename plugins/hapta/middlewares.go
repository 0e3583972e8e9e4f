package hapta

import (
	"github.com/pocketbase/pocketbase/apis"

	"github.com/postr-inc/hapta/plugins/hapta/internal/recordcache"
)

// The ids and priorities of the middlewares hapta binds on PocketBase's
// router in OnServe, so that an app can unbind them as it does PocketBase's
// own (se.Router.Unbind(hapta.RecordCacheMiddlewareId) after hapta's
// OnServe hook). hapta's CORS middleware takes the id of PocketBase's,
// apis.DefaultCorsMiddlewareId, which it replaces.
const (
	// RequestIDMiddlewareId gives every response an X-Request-ID; it runs
	// first, so that errors and 404s carry it too.
	RequestIDMiddlewareId       = "haptaRequestId"
	RequestIDMiddlewarePriority = apis.DefaultCorsMiddlewarePriority - 1

	// TokenMiddlewareId authenticates hapta tokens, right after PocketBase
	// tried its own.
	TokenMiddlewareId       = "haptaLoadToken"
	TokenMiddlewarePriority = apis.DefaultLoadAuthTokenMiddlewarePriority + 1

	// CloverTokenMiddlewareId authenticates Clover access tokens (with
	// Clover configured), after hapta's tokens; CloverHealthMiddlewareId
	// adds Clover's state to GET /api/health.
	CloverTokenMiddlewareId       = "haptaCloverToken"
	CloverTokenMiddlewarePriority = TokenMiddlewarePriority + 1
	CloverHealthMiddlewareId      = "haptaCloverHealth"

	// LockoutMiddlewareId guards PocketBase's auth-with-password and
	// auth-with-otp with the per-account lockout (Authenticator's logins
	// are guarded whether it is bound or not).
	LockoutMiddlewareId       = "haptaLockout"
	LockoutMiddlewarePriority = 0

	// RecordCacheMiddlewareId serves PocketBase's GET record endpoints
	// from the record cache; RecordCacheMiddlewarePriority puts it after
	// every middleware bound with a lower priority (the default 0
	// included), right before PocketBase's record handler.
	RecordCacheMiddlewareId       = recordcache.MiddlewareId
	RecordCacheMiddlewarePriority = recordcache.MiddlewarePriority
)
