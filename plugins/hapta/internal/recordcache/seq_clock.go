package recordcache

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Bump is one move of a node's counters, as another node can apply it: the
// stripes it moved, by number. Stripe numbers come from the moving node's
// random seed, so they are meaningful only next to dependencies that node
// described (Versions.Refs).
type Bump struct {
	Collection string   `json:"c,omitempty"` // the collection id of a record write
	Record     uint64   `json:"r,omitempty"` // its record stripe
	Fields     []uint64 `json:"f,omitempty"` // the field stripes it moved (membership included)
	AnyWrite   bool     `json:"a,omitempty"` // a write of a model that is not a record
	Schema     bool     `json:"s,omitempty"` // a collection's schema or rules: every answer
}

// Refs describes what an answer computed from deps depends on, for a node
// that applies this one's bumps (SeqClock): space-separated "c:<collection
// id>" (any write of it), "f:<field stripe>", "r:<record stripe>" and "a"
// (any write). The schema is implied. A list whose Listed collection showed
// the records listed depends on those records rather than every write of
// the collection, as here: the other node checks every bump made after the
// answer's sequence, so no read-after check is needed.
func (v *Versions) Refs(deps Deps, listed []string) string {
	var refs strings.Builder
	add := func(kind string, n uint64) {
		refs.WriteString(kind)
		refs.WriteString(strconv.FormatUint(n, 10))
		refs.WriteByte(' ')
	}
	for _, id := range deps.Collections {
		refs.WriteString("c:" + id + " ")
	}
	for _, reads := range deps.Reads {
		add("f:", v.fieldStripe(reads.CollectionID, membership))
		for _, name := range reads.Fields {
			add("f:", v.fieldStripe(reads.CollectionID, name))
		}
	}
	if deps.Record.ID != "" {
		add("r:", v.stripe(deps.Record.CollectionID, deps.Record.ID))
	}
	if deps.AnyWrite {
		refs.WriteString("a ")
	}
	switch {
	case deps.Listed != "" && listed != nil:
		for _, id := range listed {
			add("r:", v.stripe(deps.Listed, id))
		}
	case deps.Listed != "":
		refs.WriteString("c:" + deps.Listed + " ")
	}
	return strings.TrimSpace(refs.String())
}

// RecordRef describes one record's counter as Refs does.
func (v *Versions) RecordRef(collectionID, recordID string) string {
	return "r:" + strconv.FormatUint(v.stripe(collectionID, recordID), 10)
}

// SeqClock is another node's view of a node's counters: for each counter,
// the sequence number of the last bump of it applied here. An answer that
// node computed at sequence s (having applied every bump up to s) is fresh
// while no counter it depends on has a later bump.
type SeqClock struct {
	global      atomic.Uint64 // schema changes and flushes: every answer
	anyWrite    atomic.Uint64
	records     [recordStripes]atomic.Uint64
	fields      [fieldStripes]atomic.Uint64
	collections sync.Map // id -> *atomic.Uint64
}

// Apply records bump as made at seq.
func (c *SeqClock) Apply(seq uint64, bump Bump) {
	switch {
	case bump.Schema:
		c.Flush(seq)
	case bump.AnyWrite:
		Raise(&c.anyWrite, seq)
	case bump.Collection != "":
		counter, _ := c.collections.LoadOrStore(bump.Collection, new(atomic.Uint64))
		Raise(counter.(*atomic.Uint64), seq)
		for _, stripe := range bump.Fields {
			Raise(&c.fields[stripe%fieldStripes], seq)
		}
		Raise(&c.records[bump.Record%recordStripes], seq)
		Raise(&c.anyWrite, seq)
	}
}

// Flush voids every answer computed before seq.
func (c *SeqClock) Flush(seq uint64) { Raise(&c.global, seq) }

// Raise moves counter up to seq, never down.
func Raise(counter *atomic.Uint64, seq uint64) {
	for {
		current := counter.Load()
		if current >= seq || counter.CompareAndSwap(current, seq) {
			return
		}
	}
}

// SeqRef is one counter Refs named.
type SeqRef struct {
	kind byte // 'c', 'f', 'r' or 'a'
	n    uint64
	id   string
}

// ParseRefs reads what Refs wrote.
func ParseRefs(text string) ([]SeqRef, error) {
	fields := strings.Fields(text)
	refs := make([]SeqRef, 0, len(fields))
	for _, field := range fields {
		if field == "a" {
			refs = append(refs, SeqRef{kind: 'a'})
			continue
		}
		kind, value, ok := strings.Cut(field, ":")
		if !ok || len(kind) != 1 || value == "" {
			return nil, fmt.Errorf("recordcache: bad dependency %q", field)
		}
		ref := SeqRef{kind: kind[0]}
		switch ref.kind {
		case 'c':
			ref.id = value
		case 'f', 'r':
			n, err := strconv.ParseUint(value, 10, 64)
			if err != nil || (ref.kind == 'f' && n >= fieldStripes) || n >= recordStripes {
				return nil, fmt.Errorf("recordcache: bad dependency %q", field)
			}
			ref.n = n
		default:
			return nil, fmt.Errorf("recordcache: bad dependency %q", field)
		}
		refs = append(refs, ref)
	}
	return refs, nil
}

// Fresh tells whether an answer computed at seq from refs has seen every
// bump of them applied here.
func (c *SeqClock) Fresh(refs []SeqRef, seq uint64) bool {
	if c.global.Load() > seq {
		return false
	}
	for _, ref := range refs {
		if c.last(ref) > seq {
			return false
		}
	}
	return true
}

func (c *SeqClock) last(ref SeqRef) uint64 {
	switch ref.kind {
	case 'a':
		return c.anyWrite.Load()
	case 'f':
		return c.fields[ref.n].Load()
	case 'r':
		return c.records[ref.n].Load()
	}
	if counter, ok := c.collections.Load(ref.id); ok {
		return counter.(*atomic.Uint64).Load()
	}
	return 0
}
