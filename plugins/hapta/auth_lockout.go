package hapta

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"sync"
	"time"
)

// accountLockout limits failed logins per account, on every login path
// (hapta's Authenticator and PocketBase's own auth-with-password and auth-with-otp),
// in two tiers:
//
//   - per account and client address: after MaxFailures failures within
//     Window, that address's logins to the account answer 429; a success
//     from the address clears its count;
//   - per account, from all addresses: after AccountMaxFailures failures
//     within AccountWindow, every login to the account answers 429, the
//     owner's included; successes do not clear this count, so guessing
//     stays bounded however often the owner logs in.
//
// A stranger's failures from other addresses thus refuse the owner only at
// the account-wide threshold. Unknown identities are counted the same way,
// so the answers do not reveal which accounts exist.
type accountLockout struct {
	config LockoutConfig

	// mu makes a check and the count of its outcome atomic on this node,
	// and inFlight counts the attempts checked but not yet counted: they
	// are counted as failures in the checks, so concurrent guesses cannot
	// all pass a check before the first of them is counted
	mu       sync.Mutex
	inFlight map[string]int
}

// LockoutConfig configures the lockout. The defaults allow 10 failures per
// account and address in 15 minutes and 100 per account in an hour from
// all addresses together: OWASP ASVS 2.2.1's bound of 100 failed attempts
// an hour on one account.
type LockoutConfig struct {
	MaxFailures int           // per account and address (default 10)
	Window      time.Duration // of MaxFailures (default 15 minutes)

	AccountMaxFailures int           // per account, all addresses (default 100)
	AccountWindow      time.Duration // of AccountMaxFailures (default 1 hour)

	// Store counts the failures; nil means in memory, for one node. Several
	// nodes need a shared store (Redis, NATS) behind this interface.
	Store AttemptStore
}

// AttemptStore keeps the times of recent failed logins per key. A key is
// a fixed-size hash of the tier, the account and, for the first tier, the
// client address.
type AttemptStore interface {
	// Fail records a failure under key at now.
	Fail(key string, now time.Time)
	// Failures returns how many failures under key happened after since,
	// and the time of the oldest of them.
	Failures(key string, since time.Time) (count int, oldest time.Time)
	// Reset forgets the failures under key.
	Reset(key string)
}

const (
	defaultMaxFailures        = 10
	defaultLockoutWindow      = 15 * time.Minute
	defaultAccountMaxFailures = 100
	defaultAccountWindow      = time.Hour
)

func newLockout(config LockoutConfig) *accountLockout {
	if config.MaxFailures <= 0 {
		config.MaxFailures = defaultMaxFailures
	}
	if config.Window <= 0 {
		config.Window = defaultLockoutWindow
	}
	if config.AccountMaxFailures <= 0 {
		config.AccountMaxFailures = defaultAccountMaxFailures
	}
	if config.AccountWindow <= 0 {
		config.AccountWindow = defaultAccountWindow
	}
	if config.Store == nil {
		config.Store = newMemoryAttempts(max(config.Window, config.AccountWindow))
	}
	return &accountLockout{config: config, inFlight: map[string]int{}}
}

// LockedOutError refuses a login on a locked-out account. It answers 429
// with a Retry-After header; the message is the same for every account
// and tier, known or not.
type LockedOutError struct {
	RetryAfter time.Duration
}

func (e *LockedOutError) Error() string {
	return "Too many failed login attempts; try again later."
}

// retryAfterSeconds rounds up, for the Retry-After header.
func (e *LockedOutError) retryAfterSeconds() string {
	return strconv.Itoa(int((e.RetryAfter + time.Second - 1) / time.Second))
}

// tier is one of the two counts an attempt is checked against.
type tier struct {
	key    string
	max    int
	window time.Duration
}

// tiers are the counts of account from address.
func (l *accountLockout) tiers(account, address string) [2]tier {
	return [2]tier{
		{storeKey("address", address, account), l.config.MaxFailures, l.config.Window},
		{storeKey("account", account), l.config.AccountMaxFailures, l.config.AccountWindow},
	}
}

// storeKey hashes its parts: the store then holds no identities, and keys
// have one size whatever was typed.
func storeKey(parts ...string) string {
	h := sha256.New()
	for _, part := range parts {
		h.Write([]byte(strconv.Itoa(len(part)) + ":" + part))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// attempt runs login, a check of account's credential from address,
// unless a tier refuses it (a *LockedOutError), and counts its outcome.
func (l *accountLockout) attempt(account, address string, login func() outcome) error {
	tiers := l.tiers(account, address)
	if err := l.reserve(tiers); err != nil {
		return err
	}
	result := outcomeNone
	defer func() { l.settle(tiers, result) }()
	result = login()
	return nil
}

// reserve checks the tiers, counting the attempts in flight as failures,
// and adds this attempt to them.
func (l *accountLockout) reserve(tiers [2]tier) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	var wait time.Duration
	for _, t := range tiers {
		count, oldest := l.config.Store.Failures(t.key, now.Add(-t.window))
		if count+l.inFlight[t.key] < t.max {
			continue
		}
		retry := time.Second // only attempts in flight: they end soon
		if count >= t.max {
			retry = max(oldest.Add(t.window).Sub(now), retry)
		}
		wait = max(wait, retry)
	}
	if wait > 0 {
		return &LockedOutError{RetryAfter: wait}
	}
	for _, t := range tiers {
		l.inFlight[t.key]++
	}
	return nil
}

// settle counts an attempt's outcome and takes it out of flight.
func (l *accountLockout) settle(tiers [2]tier, result outcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	address, account := tiers[0].key, tiers[1].key
	switch result {
	case outcomeFailed:
		l.config.Store.Fail(address, now)
		l.config.Store.Fail(account, now)
	case outcomeSucceeded:
		l.config.Store.Reset(address)
	}
	for _, t := range tiers {
		if l.inFlight[t.key]--; l.inFlight[t.key] <= 0 {
			delete(l.inFlight, t.key)
		}
	}
}
