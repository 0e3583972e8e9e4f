package recordcache

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

// A node that applies another's bumps finds an answer stale exactly when a
// counter the answer was described with moved after the answer's sequence.
func TestSeqClockFollowsTheBumpsOfTheRefs(t *testing.T) {
	v := NewVersions()
	var bumps []Bump
	v.Observe(func(b Bump) { bumps = append(bumps, b) })
	deps := Deps{
		Reads:  []FieldReads{{CollectionID: "posts", Fields: []string{"title"}}},
		Listed: "posts",
	}
	refs, err := ParseRefs(v.Refs(deps, []string{"p1", "p2"}))
	if err != nil {
		t.Fatal(err)
	}
	view, err := ParseRefs(v.Refs(Deps{Record: RecordRef{"posts", "p3"}}, nil))
	if err != nil {
		t.Fatal(err)
	}
	var clock SeqClock
	apply := func(seq uint64) {
		t.Helper()
		if len(bumps) != 1 {
			t.Fatalf("%d bumps observed, want 1", len(bumps))
		}
		clock.Apply(seq, bumps[0])
		bumps = nil
	}

	v.RecordUpdated("posts", "p9", []string{"body"}) // not listed, a field not read
	apply(10)
	if !clock.Fresh(refs, 5) || !clock.Fresh(view, 5) {
		t.Fatal("a write of another record's other field voids the list or the view")
	}
	v.RecordUpdated("posts", "p2", []string{"body"}) // a listed record
	apply(11)
	if clock.Fresh(refs, 10) || !clock.Fresh(refs, 11) {
		t.Fatal("a write of a listed record: the list computed before it must be stale, after it fresh")
	}
	v.RecordUpdated("posts", "p7", []string{"title"}) // a field the list reads
	apply(12)
	if clock.Fresh(refs, 11) || !clock.Fresh(view, 11) {
		t.Fatal("a write of a read field voids the list, not another record's view")
	}
	v.RecordWritten("posts", "p3") // a create or delete: membership, and the viewed record
	apply(13)
	if clock.Fresh(refs, 12) || clock.Fresh(view, 12) || !clock.Fresh(view, 13) {
		t.Fatal("a membership change voids the list, and the record's view")
	}
	v.SchemaChanged()
	apply(14)
	if clock.Fresh(nil, 13) || !clock.Fresh(nil, 14) {
		t.Fatal("a schema change voids every answer computed before it")
	}
	clock.Flush(20)
	if clock.Fresh(view, 19) {
		t.Fatal("a flush voids every answer computed before it")
	}
}

func TestRefsDescribeEveryKindOfDependency(t *testing.T) {
	v := NewVersions()
	text := v.Refs(Deps{Collections: []string{"users"}, Record: RecordRef{"posts", "p1"}, AnyWrite: true, Listed: "posts"}, nil)
	kinds := map[string]bool{}
	for _, ref := range strings.Fields(text) {
		kind, _, _ := strings.Cut(ref, ":")
		kinds[kind] = true
	}
	if got := slices.Sorted(maps.Keys(kinds)); !slices.Equal(got, []string{"a", "c", "r"}) || !strings.Contains(text, "c:users") || !strings.Contains(text, "c:posts") {
		t.Fatalf("refs %q", text)
	}
	if parsed, err := ParseRefs(text); err != nil || len(parsed) != 4 {
		t.Fatalf("parsed %v, %v", parsed, err)
	}
	if refs, err := ParseRefs(""); err != nil || len(refs) != 0 {
		t.Fatalf("empty refs: %v %v", refs, err)
	}
}

func TestParseRefsRefusesWhatRefsNeverWrites(t *testing.T) {
	for _, bad := range []string{"x:1", "f:4096", "r:65536", "r:-1", "f:", "c:", "r", "ab:1", "f:1e3"} {
		if _, err := ParseRefs(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
