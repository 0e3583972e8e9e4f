package recordcache

import (
	"net/http"
	"strings"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
)

// Header says whether a cached endpoint's answer came from the cache: HIT,
// MISS, or BYPASS when the request cannot be cached (its rules read the
// time or the request headers).
const Header = "X-Hapta-Cache"

// Config configures the cache.
type Config struct {
	MaxBytes uint64
	// Collections to cache, by name. Unlisted collections are not cached.
	Collections    map[string]Policy
	MinTTL, MaxTTL time.Duration // the dynamic TTL's bounds
}

// Policy is how one collection is cached.
type Policy struct {
	HTTP bool          // also PocketBase's GET record endpoints
	TTL  time.Duration // fixed; 0 means dynamic
}

// Cache caches reads of PocketBase records.
type Cache struct {
	config   Config
	versions *Versions
	store    *Store
	ttls     *DynamicTTL
	plans    planMemo
}

// New creates the cache and binds its invalidation to app's writes.
func New(app core.App, config Config) *Cache {
	c := &Cache{
		config:   config,
		versions: NewVersions(),
		ttls:     NewDynamicTTL(config.MinTTL, config.MaxTTL),
	}
	c.store = NewStore(c.versions, config.MaxBytes)
	c.versions.BindTo(app, c.ttls)
	return c
}

// Stats are the cache's counters.
func (c *Cache) Stats() Stats { return c.store.Stats() }

func (c *Cache) ttl(collection *core.Collection, policy Policy) time.Duration {
	if policy.TTL > 0 {
		return policy.TTL
	}
	return c.ttls.TTL(collection.Id)
}

// Middleware serves PocketBase's GET /api/collections/{c}/records and
// /records/{id} from the cache: on the public router for the collections
// whose policy says HTTP, on hapta's internal router (internal) for every
// configured collection.
// It runs after PocketBase has loaded the caller's auth, and answers only
// what PocketBase would have answered this caller: the key holds the whole
// query and, when the rules read @request.auth, the caller.
func (c *Cache) Middleware(internal bool) *hook.Handler[*core.RequestEvent] {
	return &hook.Handler[*core.RequestEvent]{
		Id: "haptaRecordCache",
		Func: func(e *core.RequestEvent) error {
			collectionName, recordID, ok := recordsEndpoint(e.Request)
			if !ok {
				return e.Next()
			}
			policy, ok := c.config.Collections[collectionName]
			if !ok || !(policy.HTTP || internal) {
				return e.Next()
			}
			collection, err := e.App.FindCachedCollectionByNameOrId(collectionName)
			if err != nil {
				return e.Next()
			}
			return c.serve(e, collection, recordID, policy)
		},
	}
}

func (c *Cache) serve(e *core.RequestEvent, collection *core.Collection, recordID string, policy Policy) error {
	rawQuery := e.Request.URL.RawQuery
	if strings.Contains(rawQuery, "requestKey") {
		// the JS SDK's cancellation key changes nothing: leave it out of the key
		query := e.Request.URL.Query()
		query.Del("requestKey")
		rawQuery = query.Encode()
	}
	plan := c.plans.get(e.App, c.versions.schemaEpoch.Load(), collection, recordID, rawQuery, e.Auth)
	if plan.volatile != "" {
		e.Response.Header().Set(Header, "BYPASS")
		return e.Next()
	}
	// the raw query, as sent: another order of the same parameters is
	// another key, never a wrong answer
	key := e.Request.URL.Path + "?" + rawQuery + "#" + identity(e.Auth, plan.readsAuth)

	answer, hit, err := c.store.Get(key, plan.deps, c.ttl(collection, policy), func() (*Answer, error) {
		return capture(e)
	})
	if err != nil {
		return err
	}
	header := e.Response.Header()
	header.Set("Content-Type", answer.ContentType)
	if hit {
		header.Set(Header, "HIT")
	} else {
		header.Set(Header, "MISS")
	}
	e.Response.WriteHeader(answer.Status)
	_, err = e.Response.Write(answer.Body)
	return err
}

// identity is the caller's part of the key: superusers see everything;
// others, when the rules read @request.auth, only what is theirs.
func identity(auth *core.Record, readsAuth bool) string {
	switch {
	case auth != nil && auth.IsSuperuser():
		return "superuser"
	case !readsAuth:
		return "anyone"
	case auth == nil:
		return "anonymous"
	}
	return auth.Collection().Id + "/" + auth.Id
}

// recordsEndpoint recognizes GET /api/collections/{c}/records[/{id}].
func recordsEndpoint(r *http.Request) (collection, recordID string, ok bool) {
	if r.Method != http.MethodGet {
		return "", "", false
	}
	rest, found := strings.CutPrefix(r.URL.Path, "/api/collections/")
	if !found {
		return "", "", false
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 2 && parts[1] == "records":
		return parts[0], "", parts[0] != ""
	case len(parts) == 3 && parts[1] == "records":
		return parts[0], parts[2], parts[0] != "" && parts[2] != ""
	}
	return "", "", false
}

// capture runs the rest of the chain into a buffer. An error answer is
// returned as the error, for PocketBase to write as usual.
func capture(e *core.RequestEvent) (*Answer, error) {
	original := e.Response
	buffer := NewResponseBuffer()
	e.Response = buffer
	err := e.Next()
	e.Response = original
	if err != nil {
		return nil, err
	}
	return &Answer{Status: buffer.Status, ContentType: buffer.Header().Get("Content-Type"), Body: buffer.Body}, nil
}

// ResponseBuffer is an http.ResponseWriter that keeps the answer in memory.
type ResponseBuffer struct {
	header http.Header
	Status int
	Body   []byte
}

func NewResponseBuffer() *ResponseBuffer {
	return &ResponseBuffer{header: http.Header{}, Status: http.StatusOK}
}

func (w *ResponseBuffer) Header() http.Header    { return w.header }
func (w *ResponseBuffer) WriteHeader(status int) { w.Status = status }
func (w *ResponseBuffer) Write(p []byte) (int, error) {
	w.Body = append(w.Body, p...)
	return len(p), nil
}
