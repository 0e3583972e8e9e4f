package recordcache

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"

	"github.com/postr-inc/hapta/plugins/hapta/internal/inproc"
)

// Header says whether a cached endpoint's answer came from the cache: HIT,
// MISS, or BYPASS when the request cannot be cached (see the Bypass*
// reasons).
const Header = "X-Hapta-Cache"

const (
	// MiddlewareId is the id of the cache's router middleware.
	MiddlewareId = "haptaRecordCache"
	// MiddlewarePriority puts the cache after every middleware of the
	// router, its groups and routes (bound with a lower priority, as the
	// default 0 is), right before PocketBase's record handler: all of them
	// run for a HIT as for a MISS.
	MiddlewarePriority = 1 << 30
)

// Config configures the cache.
type Config struct {
	MaxBytes uint64
	// Collections to cache, by name (any letter case). Unlisted
	// collections are not cached.
	Collections    map[string]Policy
	MinTTL, MaxTTL time.Duration // the dynamic TTL's bounds
	// OwnReadHandlers is how many handlers hapta itself binds on each of
	// PocketBase's list and view request hooks, which change no answer of
	// a request made outside a unit of work (inproc.BindDryRunReads):
	// only handlers beyond them make reads bypass the cache.
	OwnReadHandlers int
}

// Policy is how one collection is cached.
type Policy struct {
	HTTP bool          // also PocketBase's GET record endpoints
	TTL  time.Duration // fixed; 0 means dynamic
}

// Cache caches reads of PocketBase records.
type Cache struct {
	policies map[string]Policy // by lower-case collection name
	versions *Versions
	store    *Store
	ttls     *DynamicTTL
	plans    planMemo
	tokens   *AuthTokens
	limits   rateLimits
	bypasses sync.Map // reason -> *atomic.Uint64
	// readHooks are the app's read hooks, taken once (each call of
	// app.OnRecordEnrich() and the like allocates a wrapper), with how
	// many of their handlers are hapta's own
	readHooks []readHook
}

type readHook struct {
	hook interface{ Length() int }
	own  int
}

// New creates the cache and binds its invalidation to app's writes.
func New(app core.App, config Config) *Cache {
	c := &Cache{
		policies: map[string]Policy{},
		versions: NewVersions(),
		ttls:     NewDynamicTTL(config.MinTTL, config.MaxTTL),
		plans:    newPlanMemo(),
		readHooks: []readHook{
			{app.OnRecordsListRequest(), config.OwnReadHandlers},
			{app.OnRecordViewRequest(), config.OwnReadHandlers},
			{app.OnRecordEnrich(), 0},
		},
	}
	for name, policy := range config.Collections {
		c.policies[strings.ToLower(name)] = policy
	}
	c.store = NewStore(c.versions, config.MaxBytes)
	c.tokens = newAuthTokens(c.versions, config.MaxTTL)
	c.versions.BindTo(app, c.ttls)
	return c
}

// Versions are the counters the cache's answers depend on.
func (c *Cache) Versions() *Versions { return c.versions }

// AuthTokens keeps the records of verified auth tokens, as long as the
// versions allow (see AuthTokens).
func (c *Cache) AuthTokens() *AuthTokens { return c.tokens }

// Stats are the cache's counters.
func (c *Cache) Stats() Stats {
	stats := c.store.Stats()
	stats.Bypasses = map[string]uint64{}
	c.bypasses.Range(func(reason, count any) bool {
		stats.Bypasses[reason.(string)] = count.(*atomic.Uint64).Load()
		return true
	})
	return stats
}

func (c *Cache) ttl(collection *core.Collection, policy Policy) time.Duration {
	if policy.TTL > 0 {
		return policy.TTL
	}
	return c.ttls.TTL(collection.Id, time.Now())
}

// Middleware serves PocketBase's GET /api/collections/{c}/records and
// /records/{id} from the cache: on the public router for the collections
// whose policy says HTTP, on hapta's internal router (internal) for every
// configured collection. It runs last of the middlewares, and answers only
// what PocketBase would have answered this caller: the key holds the whole
// query and, when the answer depends on the caller, the caller.
func (c *Cache) Middleware(internal bool) *hook.Handler[*core.RequestEvent] {
	return &hook.Handler[*core.RequestEvent]{
		Id:       MiddlewareId,
		Priority: MiddlewarePriority,
		Func: func(e *core.RequestEvent) error {
			if !isRecordsRead(e.Request) || isRateLimitProbe(e.Request) {
				return e.Next()
			}
			// read first: a schema change from here on voids the answer
			epoch := c.versions.Epoch()
			collection, err := e.App.FindCachedCollectionByNameOrId(e.Request.PathValue("collection"))
			if err != nil {
				return e.Next()
			}
			policy, ok := c.policies[strings.ToLower(collection.Name)]
			if !ok {
				policy, ok = c.policies[strings.ToLower(collection.Id)]
			}
			if !ok || !(policy.HTTP || internal) {
				return e.Next()
			}
			return c.serve(e, epoch, collection, e.Request.PathValue("id"), policy)
		},
	}
}

func (c *Cache) serve(e *core.RequestEvent, epoch uint64, collection *core.Collection, recordID string, policy Policy) error {
	if c.readHooksBound() {
		return c.bypass(e, BypassReadHooks)
	}
	if e.App.IsTransactional() {
		// PocketBase writes the answer when the transaction completes
		return c.bypass(e, BypassTransaction)
	}
	if e.Request.ContentLength != 0 {
		// PocketBase reads a body on GET too (and refuses a malformed one)
		return c.bypass(e, BypassRequestData)
	}
	rawQuery := KeyQuery(e.Request)
	plan := c.plans.get(e.App, epoch, collection, recordID, rawQuery, e.Auth)
	if plan.bypass != "" {
		return c.bypass(e, plan.bypass)
	}
	key := Key{Path: e.Request.URL.Path, Query: rawQuery}
	key.CallerKind, key.CallerID = identity(e.Auth, plan)
	loaded := false
	ttl := func() time.Duration { return c.ttl(collection, policy) } // asked on a load only
	answer, hit, err := c.store.Get(key, plan.deps, ttl, func() (*Answer, error) {
		loaded = true
		answer, err := capture(e)
		if err != nil {
			return nil, err
		}
		answer.prepare()
		if recordID != "" {
			return answer, nil
		}
		if mayThrottleEmptyList(e, collection) && !bytes.Contains(answer.Body, []byte(`"items":[{`)) {
			answer.keepOut = true // PocketBase throttles repeated empty filtered lists
		}
		if plan.deps.Listed != "" {
			answer.Listed = listedIDs(answer.Body)
		}
		return answer, nil
	})
	switch {
	case err != nil:
		return err
	case !loaded:
		// a HIT, or another request's load: PocketBase counts its
		// collection rate limits inside the handler that did not run
		if err := c.limits.count(e); err != nil {
			return err
		}
	}
	c.describeForEdge(e, plan, answer, ttl)
	// hapta's own reads get the JSON itself: inproc drops the client's
	// Accept-Encoding and If-None-Match
	return answer.write(e.Response, e.Request, cacheHeader(hit), e.Auth != nil)
}

// KeyQuery is the query of a request's key: the raw query, as sent (another
// order of the same parameters is another key, never a wrong answer),
// without the JS SDK's requestKey, a cancellation key that changes nothing.
func KeyQuery(r *http.Request) string {
	rawQuery := r.URL.RawQuery
	if strings.Contains(rawQuery, "requestKey") {
		query := r.URL.Query()
		query.Del("requestKey")
		rawQuery = query.Encode()
	}
	return rawQuery
}

// the values of Header, shared by the answers written
var hitHeader, missHeader = []string{"HIT"}, []string{"MISS"}

func cacheHeader(hit bool) []string {
	if hit {
		return hitHeader
	}
	return missHeader
}

// bypass lets PocketBase answer, and counts why.
func (c *Cache) bypass(e *core.RequestEvent, reason string) error {
	count, _ := c.bypasses.LoadOrStore(reason, new(atomic.Uint64))
	count.(*atomic.Uint64).Add(1)
	e.Response.Header().Set(Header, "BYPASS")
	return e.Next()
}

// readHooksBound tells whether Go code or pb_hooks handle PocketBase's read
// hooks: they may change or hide records per request, or count requests,
// so such reads are left to PocketBase. Their tags cannot be read back,
// so any handler counts for every collection.
func (c *Cache) readHooksBound() bool {
	for _, h := range c.readHooks {
		if h.hook.Length() > h.own {
			return true
		}
	}
	return false
}

// mayThrottleEmptyList: PocketBase slows down repeated empty answers of a
// filtered list under a list rule (against timing attacks); such answers
// are not kept, so that PocketBase keeps seeing them.
func mayThrottleEmptyList(e *core.RequestEvent, collection *core.Collection) bool {
	return !e.HasSuperuserAuth() && collection.ListRule != nil && *collection.ListRule != "" &&
		e.Request.URL.Query().Get("filter") != ""
}

// identity is the caller's part of the key: its kind, and its id when the
// answer is the caller's own.
func identity(auth *core.Record, plan readPlan) (kind, id string) {
	caller := Caller{Anonymous: auth == nil}
	if auth != nil {
		caller = Caller{CollectionID: auth.Collection().Id, ID: auth.Id, Superuser: auth.IsSuperuser()}
	}
	return CallerKey(caller, plan.readsAuth, plan.perCaller)
}

// Caller is who asks, as an answer's key needs it.
type Caller struct {
	Anonymous        bool
	CollectionID, ID string
	Superuser        bool
}

// CallerKey is the caller's part of an answer's key (Key.CallerKind and
// CallerID) for a read planned with these flags (see PlanHeader).
func CallerKey(caller Caller, readsAuth, perCaller bool) (kind, id string) {
	switch {
	case caller.Anonymous && (readsAuth || perCaller):
		return "anonymous", ""
	case caller.Anonymous:
		return "anyone", ""
	case readsAuth, perCaller && !caller.Superuser:
		return caller.CollectionID, caller.ID
	case caller.Superuser:
		return "superuser", "" // rules do not apply to superusers
	}
	return "anyone", ""
}

// Edge requests: a node that caches this one's answers (a cluster's edge)
// asks with EdgeRequestHeader, and a cached endpoint's answer then says what
// it depends on (DepsHeader: Versions.Refs), how its key is made
// (PlanHeader: "<reads auth><per caller>", each 0 or 1, for CallerKey) and
// how long it may be kept (TTLHeader, milliseconds).
const (
	EdgeRequestHeader = "X-Hapta-Edge"
	DepsHeader        = "X-Hapta-Deps"
	PlanHeader        = "X-Hapta-Plan"
	TTLHeader         = "X-Hapta-Ttl"
)

// describeForEdge adds the edge headers to an answer to an edge.
func (c *Cache) describeForEdge(e *core.RequestEvent, plan readPlan, answer *Answer, ttl func() time.Duration) {
	if e.Request.Header.Get(EdgeRequestHeader) == "" || answer.keepOut {
		return // an answer the cache does not keep, an edge does not either
	}
	e.Response.Header().Set(TTLHeader, strconv.FormatInt(ttl().Milliseconds(), 10))
	flags := []byte("00")
	if plan.readsAuth {
		flags[0] = '1'
	}
	if plan.perCaller {
		flags[1] = '1'
	}
	header := e.Response.Header()
	header.Set(DepsHeader, c.versions.Refs(plan.deps, answer.Listed))
	header.Set(PlanHeader, string(flags))
}

// ParsePlanHeader reads PlanHeader's flags.
func ParsePlanHeader(value string) (readsAuth, perCaller, ok bool) {
	if len(value) != 2 || strings.Trim(value, "01") != "" {
		return false, false, false
	}
	return value[0] == '1', value[1] == '1', true
}

// PocketBase's record list and view routes. An application's own route
// for a path such as /api/collections/posts/records has another pattern:
// its answers are not PocketBase's, and are not cached.
const (
	listPattern = "GET /api/collections/{collection}/records"
	viewPattern = "GET /api/collections/{collection}/records/{id}"
)

func isRecordsRead(r *http.Request) bool {
	return r.Method == http.MethodGet && (r.Pattern == listPattern || r.Pattern == viewPattern)
}

// capture runs the rest of the chain into a buffer. An error answer is
// returned as the error, for PocketBase to write as usual.
func capture(e *core.RequestEvent) (*Answer, error) {
	buffer, err := inproc.Capture(e)
	if err != nil {
		return nil, err
	}
	return &Answer{Status: buffer.Status, ContentType: buffer.Header().Get("Content-Type"), Body: buffer.Body}, nil
}

// listedIDs reads the ids of the records a list answer shows; nil when an
// item has none (a `fields` pick may leave it out).
func listedIDs(body []byte) []string {
	var list struct {
		Items []struct {
			ID *string `json:"id"`
		} `json:"items"`
	}
	if json.Unmarshal(body, &list) != nil {
		return nil
	}
	ids := make([]string, 0, len(list.Items))
	for _, item := range list.Items {
		if item.ID == nil {
			return nil
		}
		ids = append(ids, *item.ID)
	}
	return ids
}
