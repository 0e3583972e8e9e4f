package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// kvTimeout bounds one call to a NATS KV bucket: a login waits for it.
const kvTimeout = 2 * time.Second

// The buckets of the state the primary keeps on NATS KV, so that it
// survives the primary's restarts and is seen by every process using it.
const (
	attemptsBucket = "hapta_lockout"
	oauth2Bucket   = "hapta_oauth2_states"
)

// AttemptCounter counts failed logins (hapta's AttemptStore).
type AttemptCounter interface {
	Fail(key string, now time.Time)
	Failures(key string, since time.Time) (count int, oldest time.Time)
	Reset(key string)
}

// KVAttempts counts failed logins in a NATS KV bucket, and in memory too:
// while NATS cannot be reached, the count in memory still locks accounts
// out, and once it is back the larger count wins.
type KVAttempts struct {
	conn   *nats.Conn
	kv     jetstream.KeyValue
	memory AttemptCounter
	window time.Duration
	logger *slog.Logger
}

// Attempts opens the bucket of failed logins, whose entries live for
// window (the lockout's longest), over memory.
func (p *Primary) Attempts(window time.Duration, memory AttemptCounter) (*KVAttempts, error) {
	kv, err := p.bucket(attemptsBucket, window)
	if err != nil {
		return nil, err
	}
	return &KVAttempts{conn: p.conn, kv: kv, memory: memory, window: window, logger: p.logger}, nil
}

func (p *Primary) bucket(name string, ttl time.Duration) (jetstream.KeyValue, error) {
	ctx, cancel := context.WithTimeout(context.Background(), kvTimeout)
	defer cancel()
	return p.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: name, TTL: ttl, History: 1, Storage: jetstream.FileStorage})
}

// Fail records a failure; a concurrent failure elsewhere is retried over.
func (s *KVAttempts) Fail(key string, now time.Time) {
	s.memory.Fail(key, now)
	if !s.conn.IsConnected() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), kvTimeout)
	defer cancel()
	for range 5 {
		times, revision, err := s.read(ctx, key)
		if err != nil {
			s.logger.Warn("cluster: a failed login was counted in memory only", "error", err)
			return
		}
		data, _ := json.Marshal(append(recentTimes(times, now.Add(-s.window)), now.UnixNano()))
		if revision == 0 {
			_, err = s.kv.Create(ctx, key, data)
		} else {
			_, err = s.kv.Update(ctx, key, data, revision)
		}
		if err == nil {
			return
		}
	}
	s.logger.Warn("cluster: a failed login was counted in memory only: the bucket kept changing")
}

// Failures is the larger of the bucket's count and memory's.
func (s *KVAttempts) Failures(key string, since time.Time) (int, time.Time) {
	count, oldest := s.memory.Failures(key, since)
	if !s.conn.IsConnected() {
		return count, oldest
	}
	ctx, cancel := context.WithTimeout(context.Background(), kvTimeout)
	defer cancel()
	times, _, err := s.read(ctx, key)
	if err != nil {
		return count, oldest
	}
	if kept := recentTimes(times, since); len(kept) > count {
		return len(kept), time.Unix(0, kept[0])
	}
	return count, oldest
}

// Reset forgets the failures of key (a successful login).
func (s *KVAttempts) Reset(key string) {
	s.memory.Reset(key)
	if !s.conn.IsConnected() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), kvTimeout)
	defer cancel()
	if err := s.kv.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		s.logger.Warn("cluster: a lockout count was not reset in the bucket", "error", err)
	}
}

// read returns the failure times of key (unix nanoseconds, ascending) and
// the entry's revision, 0 when there is none.
func (s *KVAttempts) read(ctx context.Context, key string) ([]int64, uint64, error) {
	entry, err := s.kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return nil, 0, nil
	case err != nil:
		return nil, 0, err
	}
	var times []int64
	if json.Unmarshal(entry.Value(), &times) != nil {
		times = nil // a value this code did not write: start over
	}
	return times, entry.Revision(), nil
}

// recentTimes drops the times before since from an ascending list.
func recentTimes(times []int64, since time.Time) []int64 {
	for i, t := range times {
		if t > since.UnixNano() {
			return times[i:]
		}
	}
	return nil
}

// KVOnce keeps values that are taken once (OAuth2 login states) in a NATS
// KV bucket whose entries live for a bounded time, under a hash of their
// key: a key comes from a client, and a long or odd one must not reach
// NATS's subjects.
type KVOnce struct {
	conn *nats.Conn
	kv   jetstream.KeyValue
}

func onceKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// OAuth2States opens the bucket of started OAuth2 logins.
func (p *Primary) OAuth2States(lifetime time.Duration) (*KVOnce, error) {
	kv, err := p.bucket(oauth2Bucket, lifetime)
	if err != nil {
		return nil, err
	}
	return &KVOnce{conn: p.conn, kv: kv}, nil
}

// Put keeps value under key, which must be new.
func (o *KVOnce) Put(key string, value []byte) error {
	if !o.conn.IsConnected() {
		return errNotConnected
	}
	ctx, cancel := context.WithTimeout(context.Background(), kvTimeout)
	defer cancel()
	_, err := o.kv.Create(ctx, onceKey(key), value)
	return err
}

// Take returns the value under key and deletes it: of concurrent takes,
// one gets it. ok is false when there is none (or NATS cannot be reached).
func (o *KVOnce) Take(key string) (value []byte, ok bool) {
	if !o.conn.IsConnected() {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), kvTimeout)
	defer cancel()
	hashed := onceKey(key)
	entry, err := o.kv.Get(ctx, hashed)
	if err != nil {
		return nil, false
	}
	if err := o.kv.Delete(ctx, hashed, jetstream.LastRevision(entry.Revision())); err != nil {
		return nil, false
	}
	return entry.Value(), true
}

var errNotConnected = errors.New("cluster: not connected to NATS")
