package cluster

import (
	"strconv"
	"sync/atomic"
)

// raise moves counter up to value, never down.
func raise(counter *atomic.Uint64, value uint64) {
	for {
		current := counter.Load()
		if current >= value || counter.CompareAndSwap(current, value) {
			return
		}
	}
}

func formatSeq(seq uint64) string { return strconv.FormatUint(seq, 10) }

func parseSeq(text string) (uint64, bool) {
	seq, err := strconv.ParseUint(text, 10, 64)
	return seq, err == nil
}
