// Package recordcache caches answers computed from PocketBase records and
// drops them when anything they were computed from changes.
//
// Every record write bumps version counters: of the record, of its
// collection, and a global one (for view collections, whose sources are not
// tracked); a change of any collection's schema or rules bumps an epoch that
// every answer depends on. An
// answer is stored with the sum of the counters it depends on, taken before
// it was computed, and served only while that sum is unchanged. Counters
// only grow, so any write to a dependency changes the sum: once the call
// that wrote has returned (its after-commit hooks have run), no read that
// starts afterwards is served an answer computed before the write. A load
// that raced with a write is not stored, and concurrent misses share one
// load only when they started at the same versions.
package recordcache

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// recordStripes bounds the memory of per-record versions: records share a
// counter by hash, so a write may drop another record's answer, never keep
// a stale one.
const recordStripes = 1 << 16

// Versions counts the writes that cached answers depend on.
type Versions struct {
	mu          sync.RWMutex
	collections map[string]*atomic.Uint64 // by collection id
	anyWrite    atomic.Uint64
	schemaEpoch atomic.Uint64
	records     [recordStripes]atomic.Uint64
	seed        maphash.Seed
	bumps       atomic.Uint64 // invalidations, for the statistics
}

func NewVersions() *Versions {
	return &Versions{collections: map[string]*atomic.Uint64{}, seed: maphash.MakeSeed()}
}

func (v *Versions) collection(id string) *atomic.Uint64 {
	v.mu.RLock()
	counter, ok := v.collections[id]
	v.mu.RUnlock()
	if ok {
		return counter
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if counter, ok = v.collections[id]; !ok {
		counter = new(atomic.Uint64)
		v.collections[id] = counter
	}
	return counter
}

func (v *Versions) record(collectionID, recordID string) *atomic.Uint64 {
	return &v.records[maphash.String(v.seed, collectionID+"/"+recordID)%recordStripes]
}

// RecordWritten marks a record created, updated or deleted.
func (v *Versions) RecordWritten(collectionID, recordID string) {
	v.record(collectionID, recordID).Add(1)
	v.collection(collectionID).Add(1)
	v.anyWrite.Add(1)
	v.bumps.Add(1)
}

// SchemaChanged marks a collection created, changed (fields, rules,
// options) or deleted: rare enough to drop every answer.
func (v *Versions) SchemaChanged() {
	v.schemaEpoch.Add(1)
	v.bumps.Add(1)
}

// Deps are what an answer is computed from.
type Deps struct {
	Collections []string // ids of collections whose any write matters
	Record      *RecordRef
	AnyWrite    bool // any write anywhere matters (view collections)
}

// RecordRef is one record an answer is computed from.
type RecordRef struct{ CollectionID, ID string }

// snapshot is the sum of the counters deps read; it changes whenever one
// of them does.
func (v *Versions) snapshot(deps Deps) uint64 {
	sum := v.schemaEpoch.Load()
	for _, id := range deps.Collections {
		sum += v.collection(id).Load()
	}
	if deps.Record != nil {
		sum += v.record(deps.Record.CollectionID, deps.Record.ID).Load()
	}
	if deps.AnyWrite {
		sum += v.anyWrite.Load()
	}
	return sum
}
