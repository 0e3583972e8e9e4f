package cluster

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"

	"github.com/postr-inc/hapta/plugins/hapta/internal/recordcache"
)

// publishTimeout bounds how long a write's after-commit hook waits for the
// stream to take its bump; a bump not taken makes the primary lost (see
// Primary.lost) until a flush is published.
const publishTimeout = 2 * time.Second

// Primary publishes its versions' bumps on the stream, in the hook that
// made them, and says where the stream is.
type Primary struct {
	logger   *slog.Logger
	embedded *server.Server // nil unless started in process
	conn     *nats.Conn
	js       jetstream.JetStream

	ready     atomic.Bool   // the stream exists and a flush opened this run
	lastAcked atomic.Uint64 // the highest sequence the stream acknowledged
	// lost counts bumps the stream did not take, flushed the count a
	// flush published after them covers: edges must not trust their
	// caches while lost > flushed
	lost, flushed atomic.Uint64
	// uncertain counts the bumps since the last flush whose publish failed
	// after it may have left: the stream may still store them, each
	// taking a sequence before the flush's
	uncertain atomic.Uint64
	published atomic.Uint64
	// publishing is held shared by each publish, and exclusively to count
	// a loss once the publishes in flight have their sequences: the next
	// sequence is then the flush's (writeSeq)
	publishing sync.RWMutex
	streamID   atomic.Int64 // the stream's creation time, in heartbeats

	stop chan struct{}
	done sync.WaitGroup
}

// StartPrimary connects to NATS (starting the embedded server first when
// configured) and publishes every bump of versions. A NATS that cannot be
// reached yet is retried in the background: the primary serves meanwhile,
// and edges forward everything until it is reached.
func StartPrimary(config Config, versions *recordcache.Versions, logger *slog.Logger) (*Primary, error) {
	p := &Primary{logger: logger, stop: make(chan struct{})}
	servers := config.NATS
	if config.Embedded {
		s, err := startEmbedded(config.EmbeddedListen, config.StoreDir, os.Getenv)
		if err != nil {
			return nil, err
		}
		p.embedded = s
		servers = []string{s.ClientURL()}
	}
	conn, err := connect(servers, "hapta-primary", logger, func(bool) {})
	if err != nil {
		p.Close()
		return nil, err
	}
	p.conn = conn
	if p.js, err = jetstream.New(conn); err != nil {
		p.Close()
		return nil, err
	}
	versions.Observe(p.publish)
	p.prepare()
	p.done.Add(1)
	go p.heartbeats()
	return p, nil
}

// prepare makes sure the stream exists and opens the run with a flush:
// bumps made before this process started (or before a crash) may never
// have been published.
func (p *Primary) prepare() {
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	stream, err := p.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:      streamName,
		Subjects:  []string{changesSubject},
		Storage:   jetstream.FileStorage,
		Retention: jetstream.LimitsPolicy,
		MaxAge:    time.Hour,
		MaxMsgs:   1 << 20,
		Discard:   jetstream.DiscardOld,
	})
	if err != nil {
		p.logger.Warn("cluster: the changes stream is not ready yet", "error", err)
		return
	}
	info := stream.CachedInfo()
	if created := info.Created.UnixNano(); p.streamID.Load() != created {
		// a stream of its own (this run's first, or one created again):
		// its numbering starts where it is. The sequence moves first, so
		// that no answer gets the new stream's name with the old
		// numbering (SeqMiddleware reads them in the other order)
		p.lastAcked.Store(info.State.LastSeq)
		p.streamID.Store(created)
	}
	if p.flush(ctx) {
		p.ready.Store(true)
	}
}

// flush publishes a flush (every answer computed before it is void) and
// clears the losses it covers. While a loss is uncovered, no bump is sent
// (publish holds them back), so no new uncertainty can arise meanwhile: a
// flush that times out and is stored later is a flush too.
func (p *Primary) flush(ctx context.Context) bool {
	lost := p.lost.Load()
	if !p.send(ctx, recordcache.Bump{Schema: true}) {
		return false
	}
	p.uncertain.Store(0)
	raise(&p.flushed, lost)
	return true
}

// publish is the versions' observer: it runs in the writer's hook, after
// the commit, so the write's response carries a sequence at least its own.
// While a bump is missing from the stream, no other is published: the
// flush that must come first voids what they would.
func (p *Primary) publish(bump recordcache.Bump) {
	p.publishing.RLock()
	sent := !p.unflushed() && p.conn.IsConnected()
	published := sent && p.sendWithin(bump)
	p.publishing.RUnlock()
	if published {
		return
	}
	p.publishing.Lock()
	if sent {
		p.uncertain.Add(1)
	}
	p.lost.Add(1)
	p.publishing.Unlock()
	p.beat() // the edges hear of it now, not at the next heartbeat
}

func (p *Primary) sendWithin(bump recordcache.Bump) bool {
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	return p.send(ctx, bump)
}

func (p *Primary) send(ctx context.Context, bump recordcache.Bump) bool {
	data, err := json.Marshal(bump)
	if err != nil {
		return false
	}
	ack, err := p.js.Publish(ctx, changesSubject, data)
	if err != nil {
		p.logger.Warn("cluster: a change was not published", "error", err)
		return false
	}
	raise(&p.lastAcked, ack.Sequence)
	p.published.Add(1)
	return true
}

// heartbeat is what the primary says every heartbeatEvery.
type heartbeat struct {
	Seq   uint64 `json:"seq"`   // the last sequence the stream acknowledged
	Dirty bool   `json:"dirty"` // some bump was not published and no flush followed yet
	// Stream is the stream's creation time (unix nanoseconds): a stream
	// deleted and created again numbers its messages from 1 again
	Stream int64 `json:"stream"`
}

func (p *Primary) heartbeats() {
	defer p.done.Done()
	ticker := time.NewTicker(heartbeatEvery)
	defer ticker.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-ticker.C:
		}
		if !p.conn.IsConnected() {
			continue
		}
		if !p.ready.Load() {
			p.prepare()
		} else if p.lost.Load() > p.flushed.Load() {
			ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
			if !p.flush(ctx) {
				p.ready.Store(false) // the stream may be gone: create it again
			}
			cancel()
		}
		p.beat()
	}
}

// beat says where the stream is, on core NATS (never queued for later).
func (p *Primary) beat() {
	data, _ := json.Marshal(heartbeat{Seq: p.lastAcked.Load(), Dirty: p.unflushed(), Stream: p.streamID.Load()})
	_ = p.conn.Publish(heartbeatSubject, data)
}

// Seq is the last sequence the stream acknowledged.
func (p *Primary) Seq() uint64 { return p.lastAcked.Load() }

// unflushed tells whether a bump may be missing from the stream.
func (p *Primary) unflushed() bool { return !p.ready.Load() || p.lost.Load() > p.flushed.Load() }

// writeSeq is the sequence a write's answer gives: the last one, or, while
// a bump may be missing from the stream (the write's own, say), the
// flush's at the latest: the next one, past those a failed publish may
// still have stored (publish holds the others back). A reader that asks an
// edge for it waits for the flush, or is answered by the primary.
func (p *Primary) writeSeq() uint64 {
	if p.unflushed() {
		return p.Seq() + p.uncertain.Load() + 1
	}
	return p.Seq()
}

// SeqMiddleware gives every answer SeqHeader: for a read, the sequence
// before it was computed (so it reflects every bump up to it); for a write,
// the sequence when its answer is written, after its after-commit hooks
// published its bumps.
func (p *Primary) SeqMiddleware(id string, priority int) *hook.Handler[*core.RequestEvent] {
	return &hook.Handler[*core.RequestEvent]{
		Id:       id,
		Priority: priority,
		Func: func(e *core.RequestEvent) error {
			// the stream first: a stream created meanwhile makes the
			// sequence read after it of another stream, never the reverse
			e.Response.Header().Set(StreamHeader, formatStream(p.streamID.Load()))
			if e.Request.Method == http.MethodGet || e.Request.Method == http.MethodHead {
				e.Response.Header().Set(SeqHeader, formatSeq(p.Seq()))
				return e.Next()
			}
			e.Response = &seqWriter{ResponseWriter: e.Response, primary: p}
			return e.Next()
		},
	}
}

// seqWriter sets SeqHeader when the answer's header is written.
type seqWriter struct {
	http.ResponseWriter
	primary *Primary
	written bool
}

func (w *seqWriter) WriteHeader(status int) {
	if !w.written {
		w.written = true
		w.Header().Set(SeqHeader, formatSeq(w.primary.writeSeq()))
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *seqWriter) Write(b []byte) (int, error) {
	if !w.written {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *seqWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

func (w *seqWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// PrimaryStatus is the primary's part of /api/health and the statistics.
type PrimaryStatus struct {
	Role      Role   `json:"role"`
	NATS      string `json:"nats"` // "connected" or "disconnected"
	Seq       uint64 `json:"seq"`
	Published uint64 `json:"published"` // messages, flushes included
	Unflushed bool   `json:"unflushed"` // a change was not published and no flush followed yet
}

func (p *Primary) Status() PrimaryStatus {
	return PrimaryStatus{
		Role:      RolePrimary,
		NATS:      connectionState(p.conn),
		Seq:       p.Seq(),
		Published: p.published.Load(),
		Unflushed: p.unflushed(),
	}
}

func connectionState(conn *nats.Conn) string {
	if conn != nil && conn.IsConnected() {
		return "connected"
	}
	return "disconnected"
}

// Close stops publishing and the embedded server.
func (p *Primary) Close() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	p.done.Wait()
	if p.conn != nil {
		_ = p.conn.Drain()
	}
	if p.embedded != nil {
		p.embedded.Shutdown()
		p.embedded.WaitForShutdown()
	}
}
