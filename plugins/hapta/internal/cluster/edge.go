package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/postr-inc/hapta/plugins/hapta/internal/recordcache"
)

// monitorEvery is how often an edge decides whether it may answer from its
// cache; primaryTimeout is how long it waits for the primary's answer to
// start (a realtime stream's starts at once).
const (
	monitorEvery   = 25 * time.Millisecond
	primaryTimeout = time.Minute
)

// Edge follows the primary's stream and answers record reads from its
// cache while it is caught up, forwarding everything else.
type Edge struct {
	config Config
	logger *slog.Logger
	conn   *nats.Conn
	js     jetstream.JetStream

	clock   atomic.Pointer[recordcache.SeqClock]
	applied atomic.Uint64 // the last sequence applied to clock
	// applying serializes apply and reset; consumer numbers the consumers
	// started, so that a message an old one still delivers is dropped
	applying sync.Mutex
	consumer uint64
	// signal is closed (and replaced) whenever applied moves
	signalMu sync.Mutex
	signal   chan struct{}

	connected    atomic.Bool
	following    atomic.Bool   // a consumer of the stream is running
	primarySeq   atomic.Uint64 // from the last heartbeat
	primaryDirty atomic.Bool
	lastBeat     atomic.Int64 // when the last heartbeat came (unix nanoseconds)
	caughtUpAt   atomic.Int64 // when applied last reached the primary's sequence; 0 after serving stops
	lastCaughtUp atomic.Int64 // the same, never reset: for the lag reported
	serving      atomic.Bool  // answers may come from the cache
	streamID     atomic.Int64 // the creation time of the stream followed
	// restart asks the consumer to start over (the stream was created again)
	restart   chan struct{}
	startedAt time.Time

	reads   *edgeReads
	forward *httputil.ReverseProxy
	client  *http.Client
	stats   edgeStats

	stop chan struct{}
	done sync.WaitGroup
}

// edgeStats are an edge's counters.
type edgeStats struct {
	hits, misses, forwarded, unhealthy, events, gaps, flushes, identities atomic.Uint64
}

// StartEdge connects to NATS and starts following the stream; until it
// has caught up, every request is forwarded.
func StartEdge(config Config, logger *slog.Logger) (*Edge, error) {
	e := &Edge{config: config, logger: logger, signal: make(chan struct{}), stop: make(chan struct{}),
		restart: make(chan struct{}, 1), startedAt: time.Now()}
	e.clock.Store(new(recordcache.SeqClock))
	e.client = &http.Client{Transport: &http.Transport{
		// the cache keeps the identity body and compresses it itself
		DisableCompression:    true,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: primaryTimeout,
	}}
	e.forward = newForwarder(config.Primary, e.client.Transport, logger)
	e.reads = newEdgeReads(e)
	conn, err := connect(config.NATS, "hapta-edge", logger, e.onStatus)
	if err != nil {
		return nil, err
	}
	e.conn = conn
	if e.js, err = jetstream.New(conn); err != nil {
		conn.Close()
		return nil, err
	}
	if _, err := conn.Subscribe(heartbeatSubject, e.onHeartbeat); err != nil {
		conn.Close()
		return nil, err
	}
	e.done.Add(2)
	go e.follow()
	go e.monitor()
	return e, nil
}

func (e *Edge) onStatus(connected bool) {
	e.connected.Store(connected)
	if !connected {
		e.setServing(false)
	}
}

func (e *Edge) onHeartbeat(msg *nats.Msg) {
	var beat heartbeat
	if json.Unmarshal(msg.Data, &beat) != nil {
		return
	}
	if following := e.streamID.Load(); following != 0 && beat.Stream != 0 && beat.Stream != following {
		// the stream was deleted and created again: its sequences are not
		// those the cache was numbered by (a heartbeat's sequence below the
		// one applied is no sign: messages of the stream may arrive before
		// the heartbeat sent before them)
		e.setServing(false)
		select {
		case e.restart <- struct{}{}:
		default:
		}
		return
	}
	e.primarySeq.Store(beat.Seq)
	e.primaryDirty.Store(beat.Dirty)
	if beat.Dirty {
		e.setServing(false) // a change may be missing from the stream
	}
	now := time.Now().UnixNano()
	e.lastBeat.Store(now)
	if e.applied.Load() >= beat.Seq {
		e.caughtUp(now)
	}
}

// follow consumes the stream from its current end, again after any
// failure (the stream does not exist yet, NATS went away).
func (e *Edge) follow() {
	defer e.done.Done()
	for {
		if err := e.consume(); err != nil {
			e.logger.Debug("cluster: not following the stream", "error", err)
		}
		select {
		case <-e.stop:
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// consume follows the stream until it fails or the edge stops. The
// ordered consumer resumes by itself after a reconnect, from the message
// after the last one delivered.
func (e *Edge) consume() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	stream, err := e.js.Stream(ctx, streamName)
	cancel()
	if err != nil {
		return err
	}
	info := stream.CachedInfo()
	last := info.State.LastSeq
	e.applying.Lock()
	if followed := e.streamID.Load(); (followed != 0 && followed != info.Created.UnixNano()) || last < e.applied.Load() {
		e.reset("the stream was created again")
	}
	e.streamID.Store(info.Created.UnixNano())
	// nothing before last was applied here: every answer computed before
	// it is void
	e.clock.Load().Flush(last)
	e.setApplied(last)
	e.consumer++
	generation := e.consumer
	e.applying.Unlock()
	consumer, err := stream.OrderedConsumer(context.Background(), jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{changesSubject},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    last + 1,
	})
	if err != nil {
		return err
	}
	apply := func(msg jetstream.Msg) { e.apply(generation, msg) }
	consuming, err := consumer.Consume(apply, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		e.logger.Debug("cluster: stream consumer", "error", err)
	}))
	if err != nil {
		return err
	}
	e.following.Store(true)
	defer func() {
		e.following.Store(false)
		e.setServing(false)
		consuming.Stop()
	}()
	select {
	case <-e.stop:
		return nil
	case <-consuming.Closed():
		return nil
	case <-e.restart:
		return errors.New("the stream was created again")
	}
}

// apply applies one message of the stream, in order. A sequence that
// skips ahead means messages were lost (the stream's limits): everything
// cached is void.
func (e *Edge) apply(generation uint64, msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		return
	}
	e.applying.Lock()
	defer e.applying.Unlock()
	if generation != e.consumer {
		return // a consumer stopped since (Stop does not wait for its handler)
	}
	seq := meta.Sequence.Stream
	clock := e.clock.Load()
	previous := e.applied.Load()
	var bump recordcache.Bump
	switch {
	case seq <= previous:
		return // delivered again after a consumer reset
	case seq != previous+1:
		e.stats.gaps.Add(1)
		clock.Flush(seq)
	case json.Unmarshal(msg.Data(), &bump) != nil:
		clock.Flush(seq)
	default:
		clock.Apply(seq, bump)
	}
	if bump.Schema {
		e.stats.flushes.Add(1)
	}
	e.stats.events.Add(1)
	e.setApplied(seq)
	if seq >= e.primarySeq.Load() {
		e.caughtUp(time.Now().UnixNano())
	}
}

func (e *Edge) caughtUp(now int64) {
	e.caughtUpAt.Store(now)
	e.lastCaughtUp.Store(now)
}

func (e *Edge) setApplied(seq uint64) {
	e.applied.Store(seq)
	e.signalMu.Lock()
	close(e.signal)
	e.signal = make(chan struct{})
	e.signalMu.Unlock()
}

// waitFor waits until seq is applied, at most wait; it tells whether it was.
func (e *Edge) waitFor(seq uint64, wait time.Duration) bool {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		e.signalMu.Lock()
		signal := e.signal
		e.signalMu.Unlock()
		if e.applied.Load() >= seq {
			return true
		}
		select {
		case <-signal:
		case <-deadline.C:
			return e.applied.Load() >= seq
		}
	}
}

// reset forgets everything: the stream's sequences started again. A load
// in flight stores nothing after it (edgeReads.keep). The caller holds
// applying.
func (e *Edge) reset(why string) {
	e.logger.Warn("cluster: the edge's cache is reset", "reason", why)
	e.reads.keeping.Lock()
	defer e.reads.keeping.Unlock()
	e.clock.Store(new(recordcache.SeqClock))
	e.applied.Store(0)
	e.reads.clear()
}

// monitor decides every monitorEvery whether the cache may answer: NATS
// connected, the stream followed, the primary publishing everything, and
// caught up with its sequence within MaxLag. Coming back, the cache is
// flushed: what was cached before may have missed a change.
func (e *Edge) monitor() {
	defer e.done.Done()
	ticker := time.NewTicker(monitorEvery)
	defer ticker.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-ticker.C:
		}
		e.setServing(e.healthy())
	}
}

func (e *Edge) healthy() bool {
	return e.connected.Load() && e.following.Load() && !e.primaryDirty.Load() &&
		time.Since(time.Unix(0, e.caughtUpAt.Load())) <= e.config.MaxLag &&
		time.Since(time.Unix(0, e.lastBeat.Load())) <= e.config.MaxLag
}

func (e *Edge) setServing(serving bool) {
	if serving == e.serving.Load() {
		return
	}
	if serving {
		// whatever was kept before may have missed a change
		e.clock.Load().Flush(e.applied.Load() + 1)
		e.stats.flushes.Add(1)
		e.logger.Info("cluster: the edge answers from its cache", "seq", e.applied.Load())
	} else {
		// coming back takes a heartbeat heard after this, and caught up with
		e.caughtUpAt.Store(0)
		e.lastBeat.Store(0)
		e.logger.Warn("cluster: the edge forwards every request until it has caught up")
	}
	e.serving.Store(serving)
}

// lag is how long ago the edge was last caught up with the primary (since
// it started, when it has not been yet).
func (e *Edge) lag() time.Duration {
	at := e.lastCaughtUp.Load()
	if at == 0 {
		return time.Since(e.startedAt)
	}
	return time.Since(time.Unix(0, at))
}

// EdgeStatus is the edge's part of /api/health and its statistics.
type EdgeStatus struct {
	Role       Role    `json:"role"`
	NATS       string  `json:"nats"`
	Serving    bool    `json:"serving"` // answers from its cache
	Applied    uint64  `json:"applied"`
	PrimarySeq uint64  `json:"primarySeq"`
	LagSeconds float64 `json:"lagSeconds"`
}

func (e *Edge) Status() EdgeStatus {
	return EdgeStatus{
		Role:       RoleEdge,
		NATS:       connectionState(e.conn),
		Serving:    e.serving.Load(),
		Applied:    e.applied.Load(),
		PrimarySeq: e.primarySeq.Load(),
		LagSeconds: e.lag().Seconds(),
	}
}

// EdgeStats are the edge's statistics.
type EdgeStats struct {
	EdgeStatus
	Hits       uint64 `json:"hits"`
	Misses     uint64 `json:"misses"`
	Forwarded  uint64 `json:"forwarded"`
	Unhealthy  uint64 `json:"forwardedWhileCatchingUp"`
	Events     uint64 `json:"streamEvents"`
	Gaps       uint64 `json:"streamGaps"`
	Flushes    uint64 `json:"flushes"`
	Identities uint64 `json:"identityChecks"`
	Entries    int    `json:"entries"`
	Bytes      uint64 `json:"bytes"`
}

func (e *Edge) Stats() EdgeStats {
	return EdgeStats{
		EdgeStatus: e.Status(),
		Hits:       e.stats.hits.Load(),
		Misses:     e.stats.misses.Load(),
		Forwarded:  e.stats.forwarded.Load(),
		Unhealthy:  e.stats.unhealthy.Load(),
		Events:     e.stats.events.Load(),
		Gaps:       e.stats.gaps.Load(),
		Flushes:    e.stats.flushes.Load(),
		Identities: e.stats.identities.Load(),
		Entries:    e.reads.answers.EstimatedSize(),
		Bytes:      e.reads.answers.WeightedSize(),
	}
}

// Close stops following the stream.
func (e *Edge) Close() {
	select {
	case <-e.stop:
	default:
		close(e.stop)
	}
	e.done.Wait()
	e.conn.Close()
}
