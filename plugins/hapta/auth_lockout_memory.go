package hapta

import (
	"sync"
	"time"
)

// memoryAttempts is the in-memory AttemptStore.
type memoryAttempts struct {
	mu         sync.Mutex
	window     time.Duration // the longest window a count is asked for
	failures   map[string][]time.Time
	sinceSweep int
}

func newMemoryAttempts(window time.Duration) *memoryAttempts {
	return &memoryAttempts{window: window, failures: map[string][]time.Time{}}
}

// sweepEvery bounds the memory of keys that failed and never came back.
const sweepEvery = 1024

func (m *memoryAttempts) Fail(key string, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failures[key] = append(recent(m.failures[key], now.Add(-m.window)), now)
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

func (m *memoryAttempts) Failures(key string, since time.Time) (int, time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	times := recent(m.failures[key], since)
	if len(times) == 0 {
		return 0, time.Time{}
	}
	return len(times), times[0]
}

func (m *memoryAttempts) Reset(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.failures, key)
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
