// Package recordcache caches answers computed from PocketBase records and
// drops them when anything they were computed from changes.
//
// Every record write bumps version counters: of the record, of its
// collection, and a global one (for view collections, whose sources are not
// tracked); a change of any collection's schema or rules bumps an epoch that
// every answer depends on. An
// answer is stored with the counters it depends on and their values, taken
// before it was computed, and served only while every one of them is
// unchanged. A sum would not do: after a rule change drops a dependency, a
// sum over other counters can come back to the same value. Counters only
// grow, so once the call that wrote has returned (its after-commit hooks
// have run), no read that starts afterwards is served an answer computed
// before the write. A load that raced with a write is not stored, and
// concurrent misses share one load only when they started at the same
// versions.
package recordcache

import (
	"encoding/binary"
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

// Epoch is the schema epoch: read it before the collections an answer is
// planned from, and give it in the answer's Deps.
func (v *Versions) Epoch() uint64 { return v.schemaEpoch.Load() }

// SchemaChanged marks a collection created, changed (fields, rules,
// options) or deleted: rare enough to drop every answer.
func (v *Versions) SchemaChanged() {
	v.schemaEpoch.Add(1)
	v.bumps.Add(1)
}

// Deps are what an answer is computed from.
type Deps struct {
	// Epoch is the schema epoch read before the collection and its rules
	// were (Versions.Epoch): a change after that point, even one made
	// while the answer is computed, voids the answer
	Epoch       uint64
	Collections []string // ids of collections whose any write matters
	Record      *RecordRef
	AnyWrite    bool // any write anywhere matters (view collections)
}

// RecordRef is one record an answer is computed from.
type RecordRef struct{ CollectionID, ID string }

// version is one counter an answer was computed from, and its value then.
type version struct {
	counter *atomic.Uint64
	value   uint64
}

// snapshot reads the counters deps name.
func (v *Versions) snapshot(deps Deps) []version {
	snapshot := make([]version, 0, len(deps.Collections)+3)
	read := func(counter *atomic.Uint64) { snapshot = append(snapshot, version{counter, counter.Load()}) }
	snapshot = append(snapshot, version{&v.schemaEpoch, deps.Epoch})
	for _, id := range deps.Collections {
		read(v.collection(id))
	}
	if deps.Record != nil {
		read(v.record(deps.Record.CollectionID, deps.Record.ID))
	}
	if deps.AnyWrite {
		read(&v.anyWrite)
	}
	return snapshot
}

// unchanged tells whether no counter of a snapshot has moved since.
func unchanged(snapshot []version) bool {
	for _, read := range snapshot {
		if read.counter.Load() != read.value {
			return false
		}
	}
	return true
}

// flightKey names a load of key at the snapshot's values.
func flightKey(key string, snapshot []version) string {
	buffer := make([]byte, 0, len(key)+1+8*len(snapshot))
	buffer = append(buffer, key...)
	buffer = append(buffer, 0)
	for _, read := range snapshot {
		buffer = binary.LittleEndian.AppendUint64(buffer, read.value)
	}
	return string(buffer)
}
