package hapta

import (
	"regexp"
	"sync"
	"testing"
	"time"
)

func TestLockoutDefaults(t *testing.T) {
	t.Parallel()
	c := newLockout(LockoutConfig{}).config
	if c.MaxFailures != 10 || c.Window != 15*time.Minute || c.AccountMaxFailures != 100 || c.AccountWindow != time.Hour {
		t.Fatalf("defaults: %+v", c)
	}
}

// keysOnly is an AttemptStore that records the keys it is given.
type keysOnly struct {
	mu   sync.Mutex
	keys []string
}

func (s *keysOnly) Fail(key string, _ time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append(s.keys, key)
}
func (s *keysOnly) Failures(string, time.Time) (int, time.Time) { return 0, time.Time{} }
func (s *keysOnly) Reset(string)                                {}

// A shared store sees fixed-size hashes, not the identities typed.
func TestLockoutStoreKeysAreHashes(t *testing.T) {
	t.Parallel()
	store := &keysOnly{}
	l := newLockout(LockoutConfig{Store: store})
	if err := l.attempt("users identity bob@example.com", "198.51.100.1", func() outcome { return outcomeFailed }); err != nil {
		t.Fatal(err)
	}
	hash := regexp.MustCompile(`^[0-9a-f]{64}$`)
	if len(store.keys) != 2 || store.keys[0] == store.keys[1] || !hash.MatchString(store.keys[0]) || !hash.MatchString(store.keys[1]) {
		t.Fatalf("keys: %q", store.keys)
	}
}
