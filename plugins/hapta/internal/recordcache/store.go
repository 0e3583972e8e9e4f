package recordcache

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
	"golang.org/x/sync/singleflight"
)

// Answer is a computed answer: an HTTP status, content type and body.
// Cached answers are shared: their Body must not be modified.
type Answer struct {
	Status      int
	ContentType string
	Body        []byte

	// ready to write (see prepare)
	contentType    []string
	identity, gzip representation

	// Listed are the ids of the records a list shows, when known: it is
	// kept valid across writes of other records (see Deps.Listed)
	Listed []string

	versions []version // the counters it was computed from
	ttl      time.Duration
	keepOut  bool // served once, never stored
}

// entryOverhead approximates the bytes an entry costs beyond its key,
// bodies and versions, and versionBytes the bytes of a version.
const (
	entryOverhead = 160
	versionBytes  = 16
)

// Key names an answer: a request's path and query, and the caller when
// the answer depends on it. Its parts are the request's own strings, so
// making one allocates nothing.
type Key struct {
	Path, Query string
	// CallerKind is "anyone", "anonymous", "superuser", or the caller's
	// collection id, with its id in CallerID
	CallerKind, CallerID string
}

func (k Key) size() int { return len(k.Path) + len(k.Query) + len(k.CallerKind) + len(k.CallerID) }

// Store is a bounded cache of answers, validated against Versions.
type Store struct {
	versions *Versions
	answers  *otter.Cache[Key, *Answer]
	flights  singleflight.Group

	hits, misses, loads, evictions atomic.Uint64
}

// NewStore keeps answers up to maxBytes in all (keys and bodies included),
// evicting by otter's W-TinyLFU policy, each for its own TTL.
func NewStore(versions *Versions, maxBytes uint64) *Store {
	s := &Store{versions: versions}
	s.answers = otter.Must(&otter.Options[Key, *Answer]{
		MaximumWeight: maxBytes,
		Weigher: func(key Key, a *Answer) uint32 {
			return uint32(min(key.size()+len(a.Body)+len(a.gzip.body)+entryOverhead+versionBytes*len(a.versions), 1<<31))
		},
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[Key, *Answer]) time.Duration {
			return e.Value.ttl
		}),
		OnDeletion: func(e otter.DeletionEvent[Key, *Answer]) {
			if e.WasEvicted() {
				s.evictions.Add(1)
			}
		},
	})
	return s
}

// Get returns the answer for key: the stored one while none of the
// counters it was computed from has moved, otherwise load's (computed from
// deps). A 200 answer is stored for ttl, unless a dependency changed while
// it was computed. Concurrent misses of a key at the same versions share
// one load, but not its failure: the load of another request may fail for
// reasons of its own (its rate limit), so each waiting request then loads
// by itself.
func (s *Store) Get(key Key, deps Deps, ttl func() time.Duration, load func() (*Answer, error)) (answer *Answer, hit bool, err error) {
	if stored, ok := s.answers.GetIfPresent(key); ok && unchanged(stored.versions) {
		s.hits.Add(1)
		return stored, true, nil
	}
	s.misses.Add(1)

	snapshot := s.versions.snapshot(deps)
	ran := false
	shared, err, _ := s.flights.Do(flightKey(key, snapshot), func() (any, error) {
		ran = true
		return s.load(key, snapshot, deps.Listed, ttl, load)
	})
	if err != nil && !ran {
		answer, err := s.load(key, snapshot, deps.Listed, ttl, load)
		return answer, false, err
	}
	if err != nil {
		return nil, false, err
	}
	return shared.(*Answer), false, nil
}

// load computes an answer and stores it when it may be kept: with the
// counters of the records it lists instead of its listed collection's
// (listed), when it says which.
func (s *Store) load(key Key, snapshot []version, listed string, ttl func() time.Duration, load func() (*Answer, error)) (*Answer, error) {
	s.loads.Add(1)
	loaded, err := load()
	if err != nil {
		return nil, err
	}
	lifetime := ttl()
	if loaded.Status != http.StatusOK || loaded.keepOut || lifetime <= 0 {
		return loaded, nil
	}
	kept, ok := snapshot, unchanged(snapshot)
	if listed != "" && loaded.Listed != nil && ok {
		kept, ok = s.versions.listedSnapshot(snapshot, listed, loaded.Listed)
	}
	if ok {
		loaded.versions, loaded.ttl = kept, lifetime
		s.answers.Set(key, loaded)
	}
	return loaded, nil
}

// Stats are the store's counters since it started.
type Stats struct {
	Hits          uint64 `json:"hits"`
	Misses        uint64 `json:"misses"`
	Loads         uint64 `json:"loads"`
	Evictions     uint64 `json:"evictions"`
	Invalidations uint64 `json:"invalidations"`
	Bytes         uint64 `json:"bytes"`
	MaxBytes      uint64 `json:"maxBytes"`
	Entries       int    `json:"entries"`
	// Bypasses counts the reads left to PocketBase, by reason
	Bypasses map[string]uint64 `json:"bypasses"`
}

func (s *Store) Stats() Stats {
	return Stats{
		Hits:          s.hits.Load(),
		Misses:        s.misses.Load(),
		Loads:         s.loads.Load(),
		Evictions:     s.evictions.Load(),
		Invalidations: s.versions.bumps.Load(),
		Bytes:         s.answers.WeightedSize(),
		MaxBytes:      s.answers.GetMaximum(),
		Entries:       s.answers.EstimatedSize(),
	}
}
