package hapta

import (
	"fmt"
	"time"

	"github.com/postr-inc/hapta/plugins/hapta/internal/realtime"
)

// RealtimeSettings choose who delivers record events to realtime
// subscribers (key `realtime`, HAPTA_REALTIME as JSON).
type RealtimeSettings struct {
	// Fanout is "grouped" (the default: hapta checks subscribers in groups,
	// off the writer's request) or "pocketbase" (PocketBase's own loop).
	Fanout string `json:"fanout"`
	// QueueSize is how many messages a subscriber may have waiting before
	// it is disconnected as too slow; default 1000.
	QueueSize int `json:"queueSize"`
	// WriteTimeout ends a connection whose client takes longer to accept
	// one message; default 10s.
	WriteTimeout string `json:"writeTimeout"`
}

// RealtimeMiddlewareId marks the realtime connections of hapta's router
// for its fan-out (a router without it, PocketBase's own, is served by
// PocketBase's loop).
const RealtimeMiddlewareId = "haptaRealtime"

const (
	fanoutGrouped       = "grouped"
	fanoutPocketBase    = "pocketbase"
	defaultQueueSize    = 1000
	maxQueueSize        = 1_000_000
	defaultWriteTimeout = "10s"
)

func realtimeKey() settingKey {
	return objectKey("realtime", `an object such as {"fanout": "grouped", "queueSize": 1000, "writeTimeout": "10s"}`,
		func(s *Settings) *RealtimeSettings { return &s.Realtime }, func() RealtimeSettings { return RealtimeSettings{} })
}

// checkRealtime checks the realtime object; l.realtime stays nil for
// PocketBase's own fan-out.
func (l *loadedSettings) checkRealtime() string {
	r := l.Realtime
	switch r.Fanout {
	case "", fanoutGrouped:
	case fanoutPocketBase:
		return ""
	default:
		return fmt.Sprintf(`fanout must be "grouped" or "pocketbase", got %q`, r.Fanout)
	}
	options := realtime.Options{QueueSize: r.QueueSize}
	if options.QueueSize == 0 {
		options.QueueSize = defaultQueueSize
	}
	if options.QueueSize < 1 || options.QueueSize > maxQueueSize {
		return fmt.Sprintf("queueSize must be from 1 to %d, got %d", maxQueueSize, r.QueueSize)
	}
	var problem string
	if options.WriteTimeout, problem = parseBoundedDuration("writeTimeout", r.WriteTimeout, defaultWriteTimeout, 100*time.Millisecond); problem != "" {
		return problem
	}
	l.realtime = &options
	return ""
}
