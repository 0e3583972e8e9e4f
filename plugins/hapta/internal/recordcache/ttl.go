package recordcache

import (
	"sync"
	"time"
)

// DynamicTTL adapts a collection's TTL to how often it is written: the
// average time between its writes, or the time since its last write when
// that is longer (a burst of writes long past says little), within [Min,
// Max]. The TTL is only a
// safety net for writes PocketBase does not see (another process writing
// the SQLite file), so a rarely written collection keeps answers long and
// a busy one briefly.
type DynamicTTL struct {
	Min, Max time.Duration

	mu    sync.Mutex
	rates map[string]*writeRate // by collection id
}

type writeRate struct {
	last         time.Time
	meanInterval time.Duration // exponentially weighted
}

// smoothing weighs the newest interval in the running mean.
const smoothing = 0.2

func NewDynamicTTL(min, max time.Duration) *DynamicTTL {
	return &DynamicTTL{Min: min, Max: max, rates: map[string]*writeRate{}}
}

// Observe counts a write of the collection at now.
func (d *DynamicTTL) Observe(collectionID string, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	rate, ok := d.rates[collectionID]
	if !ok {
		d.rates[collectionID] = &writeRate{last: now, meanInterval: d.Max}
		return
	}
	interval := now.Sub(rate.last)
	rate.meanInterval = time.Duration(smoothing*float64(interval) + (1-smoothing)*float64(rate.meanInterval))
	rate.last = now
}

// TTL is the collection's TTL at now: Max until it is written.
func (d *DynamicTTL) TTL(collectionID string, now time.Time) time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	rate, ok := d.rates[collectionID]
	if !ok {
		return d.Max
	}
	return min(max(rate.meanInterval, now.Sub(rate.last), d.Min), d.Max)
}
