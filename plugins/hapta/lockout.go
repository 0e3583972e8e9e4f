package hapta

import (
	"strconv"
	"sync"
	"time"
)

// Lockout limits failed logins per account, whatever the IP (PocketBase's
// own rate limiter counts per IP). After MaxFailures failures within
// Window, an account's logins answer 429 with Retry-After until the oldest
// failure leaves the window; a success clears the count. Unknown accounts
// are counted the same way, so the answers do not reveal which exist.
type Lockout struct {
	config LockoutConfig
}

// LockoutConfig configures the lockout. The defaults, 10 failures per 15
// minutes, allow at most 40 failed attempts an hour on an account, well
// inside OWASP ASVS 2.2.1's 100.
type LockoutConfig struct {
	MaxFailures int
	Window      time.Duration
	// Store counts the failures; nil means in memory, for one node. Several
	// nodes need a shared store (Redis, NATS) behind this interface.
	Store AttemptStore
}

// AttemptStore keeps the times of recent failed logins per account.
type AttemptStore interface {
	// Fail records a failure of account at now.
	Fail(account string, now time.Time)
	// Failures returns how many failures of account happened after since,
	// and the time of the oldest of them.
	Failures(account string, since time.Time) (count int, oldest time.Time)
	// Reset forgets the failures of account.
	Reset(account string)
}

const (
	defaultMaxFailures   = 10
	defaultLockoutWindow = 15 * time.Minute
)

func newLockout(config LockoutConfig) *Lockout {
	if config.MaxFailures <= 0 {
		config.MaxFailures = defaultMaxFailures
	}
	if config.Window <= 0 {
		config.Window = defaultLockoutWindow
	}
	if config.Store == nil {
		config.Store = newMemoryAttempts(config.Window)
	}
	return &Lockout{config: config}
}

// LockedOutError refuses a login on a locked-out account. Hapta routes
// answer it with 429 and a Retry-After header.
type LockedOutError struct {
	RetryAfter time.Duration
}

func (e *LockedOutError) Error() string {
	return "Too many failed attempts on this account; retry after " + e.retryAfterSeconds() + " seconds."
}

// retryAfterSeconds rounds up, for the Retry-After header.
func (e *LockedOutError) retryAfterSeconds() string {
	return strconv.Itoa(int((e.RetryAfter + time.Second - 1) / time.Second))
}

// Check refuses a login on an account that is locked out.
func (l *Lockout) Check(account string) error {
	now := time.Now()
	count, oldest := l.config.Store.Failures(account, now.Add(-l.config.Window))
	if count >= l.config.MaxFailures {
		return &LockedOutError{RetryAfter: oldest.Add(l.config.Window).Sub(now)}
	}
	return nil
}

// Failed counts a failed login.
func (l *Lockout) Failed(account string) { l.config.Store.Fail(account, time.Now()) }

// Succeeded clears the account's failures.
func (l *Lockout) Succeeded(account string) { l.config.Store.Reset(account) }

// memoryAttempts is the in-memory AttemptStore.
type memoryAttempts struct {
	mu         sync.Mutex
	window     time.Duration
	failures   map[string][]time.Time
	sinceSweep int
}

func newMemoryAttempts(window time.Duration) *memoryAttempts {
	return &memoryAttempts{window: window, failures: map[string][]time.Time{}}
}

// sweepEvery bounds the memory of accounts that failed and never came back.
const sweepEvery = 1024

func (m *memoryAttempts) Fail(account string, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failures[account] = append(recent(m.failures[account], now.Add(-m.window)), now)
	if m.sinceSweep++; m.sinceSweep >= sweepEvery {
		m.sinceSweep = 0
		for key, times := range m.failures {
			if kept := recent(times, now.Add(-m.window)); len(kept) == 0 {
				delete(m.failures, key)
			} else {
				m.failures[key] = kept
			}
		}
	}
}

func (m *memoryAttempts) Failures(account string, since time.Time) (int, time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	times := recent(m.failures[account], since)
	if len(times) == 0 {
		return 0, time.Time{}
	}
	return len(times), times[0]
}

func (m *memoryAttempts) Reset(account string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.failures, account)
}

// recent drops the times before since from an ascending list.
func recent(times []time.Time, since time.Time) []time.Time {
	for i, t := range times {
		if t.After(since) {
			return times[i:]
		}
	}
	return nil
}
