package recordcache

import (
	"testing"
	"time"
)

func TestDynamicTTLFollowsTheWriteRate(t *testing.T) {
	t.Parallel()
	ttls := NewDynamicTTL(time.Second, 5*time.Minute)
	if got := ttls.TTL("quiet", time.Now()); got != 5*time.Minute {
		t.Fatalf("never written: %s, want the maximum", got)
	}

	start := time.Now()
	for i := 0; i < 50; i++ { // a write every 100ms
		ttls.Observe("busy", start.Add(time.Duration(i)*100*time.Millisecond))
	}
	if got := ttls.TTL("busy", start.Add(5*time.Second)); got != time.Second {
		t.Fatalf("written ten times a second: %s, want the 1s minimum", got)
	}

	for i := 0; i < 50; i++ { // a write every 30s
		ttls.Observe("steady", start.Add(time.Duration(i)*30*time.Second))
	}
	if got := ttls.TTL("steady", start.Add(49*30*time.Second)); got < 25*time.Second || got > 45*time.Second {
		t.Fatalf("written every 30s: %s, want about 30s", got)
	}
	if got := ttls.TTL("busy", start.Add(5*time.Second+40*time.Second)); got < 39*time.Second || got > 41*time.Second {
		t.Fatalf("quiet for 40s after a burst: %s, want 40s", got)
	}
}

func TestAnswersExpireAfterTheirTTL(t *testing.T) {
	t.Parallel()
	store := NewStore(NewVersions(), 1<<20)
	load := func() (*Answer, error) { return &Answer{Status: 200, Body: []byte("x")}, nil }
	store.Get(Key{Path: "k"}, Deps{}, fixed(time.Second), load)
	if _, hit, _ := store.Get(Key{Path: "k"}, Deps{}, fixed(time.Second), load); !hit {
		t.Fatal("not cached")
	}
	time.Sleep(1100 * time.Millisecond)
	if _, hit, _ := store.Get(Key{Path: "k"}, Deps{}, fixed(time.Second), load); hit {
		t.Fatal("served after its TTL")
	}
}

// fixed is a TTL that does not change.
func fixed(ttl time.Duration) func() time.Duration { return func() time.Duration { return ttl } }
