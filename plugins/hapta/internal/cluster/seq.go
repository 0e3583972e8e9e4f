package cluster

import (
	"strconv"

	"github.com/postr-inc/hapta/plugins/hapta/internal/recordcache"
)

// raise moves a counter up, never down.
var raise = recordcache.Raise

func formatSeq(seq uint64) string { return strconv.FormatUint(seq, 10) }

func parseSeq(text string) (uint64, bool) {
	seq, err := strconv.ParseUint(text, 10, 64)
	return seq, err == nil
}

func formatStream(id int64) string { return strconv.FormatInt(id, 10) }
