// Package recordcache caches answers computed from PocketBase records and
// drops them when anything they were computed from changes.
//
// Every record write bumps version counters: of the record, of its
// collection, and a global one (for view collections, whose sources are not
// tracked); a create or delete also bumps its collection's membership, and
// an update the counters of the fields it changed. A list that only reads
// some fields of a collection (in its filter, sort or rules) depends on the
// collection's membership and those fields, and on the records it shows,
// not on every write. A change of any collection's schema or rules bumps an
// epoch that every answer depends on. An
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

// recordStripes and fieldStripes bound the memory of per-record and
// per-field versions: records (fields) share a counter by hash, so a write
// may drop another answer, never keep a stale one.
const (
	recordStripes = 1 << 16
	fieldStripes  = 1 << 12
)

// membership is the field name of a collection's membership counter, which
// creates and deletes bump (no field has an empty name).
const membership = ""

// Versions counts the writes that cached answers depend on.
type Versions struct {
	mu          sync.RWMutex
	collections map[string]*atomic.Uint64 // by collection id
	anyWrite    atomic.Uint64
	schemaEpoch atomic.Uint64
	records     [recordStripes]atomic.Uint64
	fields      [fieldStripes]atomic.Uint64
	updates     updates // running, for noteChanges
	seed        maphash.Seed
	bumps       atomic.Uint64 // invalidations, for the statistics
	// observer is told of every bump, after it is made (a cluster's
	// primary publishes them); nil for none
	observer atomic.Pointer[func(Bump)]
}

// Observe has observe told of every bump, after the counters have moved,
// on the goroutine that made it (inside the writer's after-commit hook).
func (v *Versions) Observe(observe func(Bump)) { v.observer.Store(&observe) }

func (v *Versions) notify(bump Bump) {
	if observe := v.observer.Load(); observe != nil {
		(*observe)(bump)
	}
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
	return &v.records[v.stripe(collectionID, recordID)]
}

// stripe is a record's stripe of the per-record counters.
func (v *Versions) stripe(collectionID, recordID string) uint64 {
	return maphash.String(v.seed, collectionID+"/"+recordID) % recordStripes
}

// field is the counter of a field of a collection (membership: its
// membership).
func (v *Versions) field(collectionID, name string) *atomic.Uint64 {
	return &v.fields[v.fieldStripe(collectionID, name)]
}

func (v *Versions) fieldStripe(collectionID, name string) uint64 {
	return maphash.String(v.seed, collectionID+"/"+name) % fieldStripes
}

// RecordWritten marks a record created or deleted, or updated in a way not
// known field by field.
func (v *Versions) RecordWritten(collectionID, recordID string) {
	v.RecordUpdated(collectionID, recordID, []string{membership})
}

// RecordUpdated marks a record updated in the named fields only. The
// collection's counter moves first: a list reads the counters of the
// records it shows after it is computed, then checks that counter (see
// Store.load), so a write whose record counter it read is one whose
// collection counter it sees too.
func (v *Versions) RecordUpdated(collectionID, recordID string, fields []string) {
	v.collection(collectionID).Add(1)
	for _, name := range fields {
		v.field(collectionID, name).Add(1)
	}
	v.record(collectionID, recordID).Add(1)
	v.anyWrite.Add(1)
	v.bumps.Add(1)
	if v.observer.Load() != nil {
		bump := Bump{Collection: collectionID, Record: v.stripe(collectionID, recordID), Fields: make([]uint64, len(fields))}
		for i, name := range fields {
			bump.Fields[i] = v.fieldStripe(collectionID, name)
		}
		v.notify(bump)
	}
}

// otherWrite marks a write of a model that is not a record (which may back
// a view collection).
func (v *Versions) otherWrite() {
	v.anyWrite.Add(1)
	v.bumps.Add(1)
	v.notify(Bump{AnyWrite: true})
}

// Epoch is the schema epoch: read it before the collections an answer is
// planned from, and give it in the answer's Deps.
func (v *Versions) Epoch() uint64 { return v.schemaEpoch.Load() }

// SchemaChanged marks a collection created, changed (fields, rules,
// options) or deleted: rare enough to drop every answer.
func (v *Versions) SchemaChanged() {
	v.schemaEpoch.Add(1)
	v.bumps.Add(1)
	v.notify(Bump{Schema: true})
}

// Deps are what an answer is computed from.
type Deps struct {
	// Epoch is the schema epoch read before the collection and its rules
	// were (Versions.Epoch): a change after that point, even one made
	// while the answer is computed, voids the answer
	Epoch       uint64
	Collections []string // ids of collections whose any write matters
	// Reads are collections (none of Collections) of which only the
	// membership and some fields matter: what a filter, sort or rule reads
	Reads    []FieldReads
	Record   RecordRef // none when its ID is ""
	AnyWrite bool      // any write anywhere matters (view collections)
	// Listed is the id of the collection a list shows records of, when
	// it is one of Reads: the answer then depends on the records it
	// shows (their ids read from it) instead of every write of it
	Listed string
}

// FieldReads are the fields of a collection an answer reads.
type FieldReads struct {
	CollectionID string
	Fields       []string
}

// RecordRef is one record an answer is computed from.
type RecordRef struct{ CollectionID, ID string }

// version is one counter an answer was computed from, and its value then.
type version struct {
	counter *atomic.Uint64
	value   uint64
}

// snapshot reads the counters deps name. The counter of the Listed
// collection comes last, for listedSnapshot to replace.
func (v *Versions) snapshot(deps Deps) []version {
	snapshot := make([]version, 0, len(deps.Collections)+4)
	read := func(counter *atomic.Uint64) { snapshot = append(snapshot, version{counter, counter.Load()}) }
	snapshot = append(snapshot, version{&v.schemaEpoch, deps.Epoch})
	for _, id := range deps.Collections {
		read(v.collection(id))
	}
	for _, reads := range deps.Reads {
		read(v.field(reads.CollectionID, membership))
		for _, name := range reads.Fields {
			read(v.field(reads.CollectionID, name))
		}
	}
	if deps.Record.ID != "" {
		read(v.record(deps.Record.CollectionID, deps.Record.ID))
	}
	if deps.AnyWrite {
		read(&v.anyWrite)
	}
	if deps.Listed != "" {
		read(v.collection(deps.Listed))
	}
	return snapshot
}

// listedSnapshot is the snapshot a list of the Listed collection is kept
// with once computed: the counters of the records it shows (ids) instead
// of the collection's. It is read after the answer was computed, so it is
// good only while the collection's counter has not moved since snapshot was
// taken: RecordUpdated moves that one first. ok is false when it has.
func (v *Versions) listedSnapshot(snapshot []version, collectionID string, ids []string) (kept []version, ok bool) {
	kept = make([]version, len(snapshot)-1, len(snapshot)-1+len(ids))
	copy(kept, snapshot)
	for _, id := range ids {
		counter := v.record(collectionID, id)
		kept = append(kept, version{counter, counter.Load()})
	}
	return kept, unchanged(snapshot)
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
func flightKey(key Key, snapshot []version) string {
	buffer := make([]byte, 0, key.size()+4+8*len(snapshot))
	for _, part := range []string{key.Path, key.Query, key.CallerKind, key.CallerID} {
		buffer = append(buffer, part...)
		buffer = append(buffer, 0)
	}
	for _, read := range snapshot {
		buffer = binary.LittleEndian.AppendUint64(buffer, read.value)
	}
	return string(buffer)
}
