package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/pocketbase/pocketbase/core"
	"golang.org/x/sync/singleflight"

	"github.com/postr-inc/hapta/plugins/hapta/internal/recordcache"
)

// IdentityPath is the primary's route that says who a token is, for edges.
const IdentityPath = "/api/hapta/cluster/identity"

// Identity is the primary's answer at IdentityPath.
type Identity struct {
	Anonymous    bool   `json:"anonymous"`
	CollectionID string `json:"collectionId,omitempty"`
	ID           string `json:"id,omitempty"`
	Superuser    bool   `json:"superuser,omitempty"`
	Expires      int64  `json:"expires,omitempty"` // unix seconds; 0 when the token says nothing
	// Ref is the caller's record counter (recordcache.Versions.RecordRef):
	// a write of the record (a new password, a delete) voids the identity
	Ref string `json:"ref,omitempty"`
}

// edgeReads is an edge's cache: answers, their plans' key flags, and the
// identities of tokens, each valid while the clock says so.
type edgeReads struct {
	edge       *Edge
	answers    *otter.Cache[recordcache.Key, *edgeAnswer]
	plans      *otter.Cache[planKey, planFlags]
	identities *otter.Cache[string, *edgeIdentity]
	flights    singleflight.Group
	// keeping is held shared to store what was loaded under a clock, and
	// exclusively by Edge.reset, which replaces the clock: nothing loaded
	// before a reset is stored after it
	keeping sync.RWMutex
}

type edgeAnswer struct {
	answer *recordcache.Answer
	flags  planFlags   // of the plan it was keyed by
	header http.Header // the primary's, but the cache's own (keptHeaders)
	refs   []recordcache.SeqRef
	seq    uint64
	ttl    time.Duration
}

// planKey names the read plan of a request for a class of callers, whose
// flags make the answer's key.
type planKey struct{ path, query, class string }

type planFlags struct {
	readsAuth, perCaller bool
	seq                  uint64
}

type edgeIdentity struct {
	caller  recordcache.Caller
	refs    []recordcache.SeqRef
	seq     uint64
	expires time.Time
}

const (
	// maxSeqAhead is how far past the last heartbeat's sequence a reader's
	// may be: the writes of one heartbeat's interval
	maxSeqAhead = 1 << 16
	// anonymousTokenLife is how long a token found to be no one's is
	anonymousTokenLife = 10 * time.Second
	entryOverhead      = 160
	planMemoBytes      = 4 << 20
	identitiesBytes    = 8 << 20
)

func newEdgeReads(e *Edge) *edgeReads {
	return &edgeReads{
		edge: e,
		answers: otter.Must(&otter.Options[recordcache.Key, *edgeAnswer]{
			MaximumWeight: e.config.MaxBytes,
			Weigher: func(key recordcache.Key, a *edgeAnswer) uint32 {
				return uint32(min(len(key.Path)+len(key.Query)+len(key.CallerKind)+len(key.CallerID)+a.answer.Size()+entryOverhead+16*len(a.refs), 1<<31))
			},
			ExpiryCalculator: otter.ExpiryWritingFunc(func(entry otter.Entry[recordcache.Key, *edgeAnswer]) time.Duration {
				return entry.Value.ttl
			}),
		}),
		plans: otter.Must(&otter.Options[planKey, planFlags]{
			MaximumWeight: planMemoBytes,
			Weigher: func(key planKey, _ planFlags) uint32 {
				return uint32(len(key.path) + len(key.query) + len(key.class) + 64)
			},
		}),
		identities: otter.Must(&otter.Options[string, *edgeIdentity]{
			MaximumWeight: identitiesBytes,
			Weigher:       func(token string, _ *edgeIdentity) uint32 { return uint32(len(token) + 200) },
			ExpiryCalculator: otter.ExpiryWritingFunc(func(otter.Entry[string, *edgeIdentity]) time.Duration {
				return e.config.MaxTTL
			}),
		}),
	}
}

func (r *edgeReads) clear() {
	r.answers.InvalidateAll()
	r.plans.InvalidateAll()
	r.identities.InvalidateAll()
}

// isCachedRead tells whether a request is a GET of PocketBase's record list
// or view of a collection the edge caches (named as in the configuration;
// a collection named by its id is forwarded).
func (r *edgeReads) isCachedRead(req *http.Request) bool {
	if req.Method != http.MethodGet {
		return false
	}
	rest, ok := strings.CutPrefix(req.URL.Path, "/api/collections/")
	if !ok {
		return false
	}
	parts := strings.Split(rest, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[1] != "records" || (len(parts) == 3 && parts[2] == "") {
		return false
	}
	return r.edge.config.Cached[strings.ToLower(parts[0])]
}

var errNotCacheable = errors.New("cluster: not answered from the cache")

// serve answers a cached read from the cache, or from the primary through
// the cache; errNotCacheable when it must be forwarded as it is.
func (r *edgeReads) serve(re *core.RequestEvent) error {
	e, w, req := r.edge, re.Response, re.Request
	if !e.serving.Load() {
		e.stats.unhealthy.Add(1)
		return errNotCacheable
	}
	if want := requestedSeq(req); want > e.applied.Load() {
		// a sequence far past the primary's is no write's: no waiting
		if want > e.primarySeq.Load()+maxSeqAhead || !e.waitFor(want, e.config.ReadWait) || !e.serving.Load() {
			return errNotCacheable // the primary answers it fresh
		}
	}
	if req.ContentLength != 0 {
		return errNotCacheable // PocketBase reads a body on GET too
	}
	clock := e.clock.Load()
	token := req.Header.Get("Authorization")
	caller := recordcache.Caller{Anonymous: true}
	if token != "" {
		identity, err := r.identity(req, token, clock)
		if err != nil {
			return errNotCacheable
		}
		caller = identity.caller
	}
	query := recordcache.KeyQuery(req)
	plan := planKey{path: req.URL.Path, query: query, class: callerClass(caller)}
	flags, known := r.plans.GetIfPresent(plan)
	known = known && clock.Fresh(nil, flags.seq)
	var key recordcache.Key
	if known {
		key = recordcache.Key{Path: plan.path, Query: query}
		key.CallerKind, key.CallerID = recordcache.CallerKey(caller, flags.readsAuth, flags.perCaller)
		if stored, ok := r.answers.GetIfPresent(key); ok && clock.Fresh(stored.refs, stored.seq) {
			e.stats.hits.Add(1)
			return stored.write(w, req, true, caller)
		}
	}
	e.stats.misses.Add(1)
	// concurrent misses of one key share a load; until the plan's flags
	// are known, only requests with the same token (the same caller) do
	flight := strings.Join([]string{plan.path, plan.query, "token", token}, "\x00")
	if known {
		flight = strings.Join([]string{key.Path, key.Query, key.CallerKind, key.CallerID}, "\x00")
	}
	return r.load(w, forwardable(re), plan, caller, clock, flight)
}

// load asks the primary, keeps its answer when it says what the answer
// depends on and nothing applied here has changed that since, and writes
// it. Concurrent misses of one key share one request to the primary; one
// that finds the shared answer already stale, or not to be kept (an error
// may be another client's own: its rate limit), asks by itself.
func (r *edgeReads) load(w http.ResponseWriter, req *http.Request, plan planKey, caller recordcache.Caller, clock *recordcache.SeqClock, flight string) error {
	ran := false
	shared := r.flights.DoChan(flight, func() (any, error) {
		ran = true
		return r.fetch(req, plan, caller, clock), nil
	})
	var fetched *fetchedAnswer
	select {
	case result := <-shared:
		fetched = result.Val.(*fetchedAnswer)
	case <-req.Context().Done():
		return req.Context().Err()
	}
	if !ran && !fetched.sharedWith(plan, caller, r.edge.clock.Load()) {
		fetched = r.fetch(req, plan, caller, clock)
	}
	if fetched.entry == nil {
		return fetched.captured.writeTo(w)
	}
	return fetched.entry.write(w, req, false, caller)
}

// fetchedAnswer is the primary's answer to a cached read: an entry when it
// may be kept, with the key it was kept under, else the answer as it came.
type fetchedAnswer struct {
	entry    *edgeAnswer
	key      recordcache.Key
	captured *capture
}

// sharedWith tells whether another request of the same flight may be
// given the answer: one to keep, still fresh, and keyed for that caller as
// for the one who asked (the flight was named from flags that a rule
// change may have made old).
func (f *fetchedAnswer) sharedWith(plan planKey, caller recordcache.Caller, clock *recordcache.SeqClock) bool {
	if f.entry == nil || !clock.Fresh(f.entry.refs, f.entry.seq) {
		return false
	}
	kind, id := recordcache.CallerKey(caller, f.entry.flags.readsAuth, f.entry.flags.perCaller)
	return f.key == recordcache.Key{Path: plan.path, Query: plan.query, CallerKind: kind, CallerID: id}
}

func (r *edgeReads) fetch(req *http.Request, plan planKey, caller recordcache.Caller, clock *recordcache.SeqClock) *fetchedAnswer {
	// others may share this load: the client that started it going away
	// must not end it
	ctx, cancel := context.WithTimeout(context.WithoutCancel(req.Context()), primaryTimeout)
	defer cancel()
	out := req.Clone(ctx)
	for _, name := range []string{"Accept-Encoding", "If-None-Match", "If-Modified-Since"} {
		out.Header.Del(name) // the cache compresses and revalidates itself
	}
	out.Header.Set(recordcache.EdgeRequestHeader, "1")
	captured := r.edge.ask(out)
	header := captured.header
	seq, seqOK := parseSeq(header.Get(SeqHeader))
	if header.Get(StreamHeader) != formatStream(r.edge.streamID.Load()) {
		seqOK = false // numbered by another stream than the one followed
	}
	readsAuth, perCaller, planOK := recordcache.ParsePlanHeader(header.Get(recordcache.PlanHeader))
	refs, refsErr := recordcache.ParseRefs(header.Get(recordcache.DepsHeader))
	ttl, ttlOK := parseTTLHeader(header.Get(recordcache.TTLHeader), r.edge.config.MaxTTL)
	for _, name := range []string{recordcache.DepsHeader, recordcache.PlanHeader, recordcache.TTLHeader} {
		header.Del(name) // between the nodes only
	}
	if captured.status != http.StatusOK || !seqOK || !planOK || refsErr != nil || !ttlOK {
		return &fetchedAnswer{captured: captured}
	}
	flags := planFlags{readsAuth: readsAuth, perCaller: perCaller, seq: seq}
	entry := &edgeAnswer{
		answer: recordcache.NewAnswer(captured.status, header.Get("Content-Type"), captured.body.Bytes()),
		flags:  flags,
		header: keptHeaders(header),
		refs:   refs, seq: seq, ttl: ttl,
	}
	key := recordcache.Key{Path: plan.path, Query: plan.query}
	key.CallerKind, key.CallerID = recordcache.CallerKey(caller, readsAuth, perCaller)
	r.keep(clock, func() {
		r.plans.Set(plan, flags)
		if clock.Fresh(refs, seq) {
			r.answers.Set(key, entry)
		}
	})
	return &fetchedAnswer{entry: entry, key: key}
}

// keep stores what was loaded under clock, unless a reset replaced it.
func (r *edgeReads) keep(clock *recordcache.SeqClock, store func()) {
	r.keeping.RLock()
	defer r.keeping.RUnlock()
	if r.edge.clock.Load() == clock {
		store()
	}
}

// write writes a kept answer with the primary's headers that are not the
// cache's own.
func (a *edgeAnswer) write(w http.ResponseWriter, req *http.Request, hit bool, caller recordcache.Caller) error {
	header := w.Header()
	for name, values := range a.header {
		header[name] = values
	}
	return a.answer.Write(w, req, hit, !caller.Anonymous)
}

// identity is who token is, as the primary said at a sequence whose
// changes of that caller have all been applied here since.
func (r *edgeReads) identity(req *http.Request, token string, clock *recordcache.SeqClock) (*edgeIdentity, error) {
	if known, ok := r.identities.GetIfPresent(token); ok && clock.Fresh(known.refs, known.seq) && time.Now().Before(known.expires) {
		return known, nil
	}
	r.edge.stats.identities.Add(1)
	out, err := http.NewRequestWithContext(req.Context(), http.MethodGet, r.edge.config.Primary.JoinPath(IdentityPath).String(), nil)
	if err != nil {
		return nil, err
	}
	out.Header.Set("Authorization", token)
	out.Header.Set(recordcache.EdgeRequestHeader, "1")
	response, err := r.edge.client.Do(out)
	if err != nil {
		return nil, err
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(response.Body, 64<<10)) // the connection can be reused
		response.Body.Close()
	}()
	var answer Identity
	seq, seqOK := parseSeq(response.Header.Get(SeqHeader))
	if response.Header.Get(StreamHeader) != formatStream(r.edge.streamID.Load()) {
		return nil, errNotCacheable // numbered by another stream than the one followed
	}
	if response.StatusCode != http.StatusOK || !seqOK || json.NewDecoder(response.Body).Decode(&answer) != nil {
		return nil, errNotCacheable
	}
	refs, err := recordcache.ParseRefs(answer.Ref)
	if err != nil {
		return nil, err
	}
	identity := &edgeIdentity{
		caller:  recordcache.Caller{Anonymous: answer.Anonymous, CollectionID: answer.CollectionID, ID: answer.ID, Superuser: answer.Superuser},
		refs:    refs,
		seq:     seq,
		expires: time.Now().Add(r.edge.config.MaxTTL),
	}
	switch {
	case answer.Anonymous:
		// a token the primary could not check now (a Clover server away,
		// say) may be good in a moment
		identity.expires = time.Now().Add(anonymousTokenLife)
	case answer.Expires > 0:
		identity.expires = time.Unix(answer.Expires, 0)
	}
	r.keep(clock, func() {
		if clock.Fresh(refs, seq) {
			r.identities.Set(token, identity)
		}
	})
	return identity, nil
}

// callerClass is the class of callers a read plan is made for.
func callerClass(caller recordcache.Caller) string {
	switch {
	case caller.Anonymous:
		return "anonymous"
	case caller.Superuser:
		return "superuser"
	}
	return caller.CollectionID
}

// requestedSeq is the sequence a reader asks to see (its own writes): the
// higher of SeqHeader and SeqCookie, 0 for none.
func requestedSeq(req *http.Request) uint64 {
	seq, _ := parseSeq(req.Header.Get(SeqHeader))
	if cookie, err := req.Cookie(SeqCookie); err == nil {
		if fromCookie, ok := parseSeq(cookie.Value); ok && fromCookie > seq {
			seq = fromCookie
		}
	}
	return seq
}

// parseTTLHeader reads TTLHeader (milliseconds), bounded by maxTTL.
func parseTTLHeader(text string, maxTTL time.Duration) (time.Duration, bool) {
	ms, err := strconv.ParseInt(text, 10, 64)
	if err != nil || ms <= 0 {
		return 0, false
	}
	return min(time.Duration(ms)*time.Millisecond, maxTTL), true
}

// capture is a response kept in memory.
type capture struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newCapture() *capture { return &capture{header: http.Header{}, status: http.StatusOK} }

func (c *capture) Header() http.Header         { return c.header }
func (c *capture) WriteHeader(status int)      { c.status = status }
func (c *capture) Write(b []byte) (int, error) { return c.body.Write(b) }

func (c *capture) writeTo(w http.ResponseWriter) error {
	header := w.Header()
	for name, values := range c.header {
		header[name] = values
	}
	w.WriteHeader(c.status)
	_, err := w.Write(c.body.Bytes())
	return err
}

// cacheOwnHeaders are the headers an answer from the cache writes itself,
// or that belong to one response only.
var cacheOwnHeaders = map[string]bool{
	"Content-Type": true, "Content-Length": true, "Content-Encoding": true, "Etag": true, "Cache-Control": true,
	"Vary": true, "Date": true, "Set-Cookie": true, "X-Request-Id": true, recordcache.Header: true,
}

// keptHeaders are the primary's headers an answer from the cache repeats:
// PocketBase's security headers, the answer's sequence.
func keptHeaders(from http.Header) http.Header {
	kept := http.Header{}
	for name, values := range from {
		if !cacheOwnHeaders[name] {
			kept[name] = values
		}
	}
	return kept
}
