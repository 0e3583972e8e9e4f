package realtime

import (
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
	"github.com/pocketbase/pocketbase/tools/subscriptions"
)

// Options bound the broadcaster's memory and its wait for slow clients.
type Options struct {
	// QueueSize is how many messages a subscriber may have waiting before
	// it is disconnected; default 1000.
	QueueSize int
	// WriteTimeout ends a connection whose SSE write takes longer (a
	// client that stopped reading), within a tenth more; default 10s.
	WriteTimeout time.Duration
	// Snapshots is how many committed events may wait for the broadcaster
	// (each holds a read transaction) before writes wait; default 32.
	Snapshots int
}

// Broadcaster delivers record events to the realtime clients it wraps.
type Broadcaster struct {
	app     core.App
	options Options
	reg     *registry // the worker's own
	plans   plans     // the worker's own

	countsMu sync.Mutex
	counts   map[string]*subCount // by collection name or id, as the topics write it
	pins     chan struct{}

	txMu    sync.Mutex
	txSnaps map[dbx.Builder]*snapshot

	pendingMu sync.Mutex
	pending   map[*core.ModelEvent]*event // deletes awaiting their commit, by their event

	worker atomic.Uint64 // the worker goroutine's number (goroutine.go)

	qMu    sync.Mutex
	qCond  *sync.Cond
	queue  []item
	closed bool
	done   chan struct{}

	leftover bracket // around PocketBase's own broadcast handlers
	streams  streams // the open streams, for the watchdog

	stats Stats
}

// item is a registry change, an event, or the release of a delete's
// prepared messages, in the order they happened.
type item struct {
	mutate  func(*registry)
	event   *event
	release *event
}

// subCount counts the record subscriptions to a collection, for the
// writers, which cannot read the registry: with none an event costs
// nothing; with an expand among them the writer waits for its event.
type subCount struct{ all, expands int }

func (b *Broadcaster) counted(sub recordSub, delta int) {
	b.countsMu.Lock()
	defer b.countsMu.Unlock()
	n := b.counts[sub.topic.collection]
	if n == nil {
		n = &subCount{}
		b.counts[sub.topic.collection] = n
	}
	n.all += delta
	if sub.expands {
		n.expands += delta
	}
	if n.all == 0 {
		delete(b.counts, sub.topic.collection)
	}
}

// subscribed tells whether collection has record subscriptions.
func (b *Broadcaster) subscribed(collection *core.Collection) bool {
	any, _ := b.interest(collection)
	return any
}

// interest tells whether collection has record subscriptions, and whether
// one of them expands relations.
func (b *Broadcaster) interest(collection *core.Collection) (any, expands bool) {
	b.countsMu.Lock()
	defer b.countsMu.Unlock()
	for _, key := range []string{collection.Name, collection.Id} {
		if n := b.counts[key]; n != nil {
			any = any || n.all > 0
			expands = expands || n.expands > 0
		}
	}
	return any, expands
}

// Stats count the broadcaster's work since it started.
type Stats struct {
	Events, Messages, GroupQueries, SingleChecks atomic.Int64

	Disconnects atomic.Int64 // for a full queue
	Stalls      atomic.Int64 // for a write longer than WriteTimeout
}

// connectKey marks a realtime connection that came through Middleware.
const connectKey = "haptaRealtime"

// Bind takes the record events of app's realtime connections over, for
// the connections that pass through the Middleware.
func Bind(app core.App, options Options) *Broadcaster {
	if options.QueueSize <= 0 {
		options.QueueSize = 1000
	}
	if options.WriteTimeout <= 0 {
		options.WriteTimeout = 10 * time.Second
	}
	if options.Snapshots <= 0 {
		options.Snapshots = 32
	}
	b := &Broadcaster{
		app: app, options: options, reg: newRegistry(), plans: plans{},
		pins: make(chan struct{}, options.Snapshots), txSnaps: map[dbx.Builder]*snapshot{},
		pending: map[*core.ModelEvent]*event{}, done: make(chan struct{}), counts: map[string]*subCount{},
		leftover: bracket{others: subscriptions.NewBroker(), byAuth: map[string]map[*Client]struct{}{}},
	}
	b.qCond = sync.NewCond(&b.qMu)
	b.bindHooks()
	go b.run()
	go b.sweep()
	go b.watch()
	return b
}

// Middleware marks the realtime connections the broadcaster serves: those
// on the routers it is bound to.
func (b *Broadcaster) Middleware(id string, priority int) *hook.Handler[*core.RequestEvent] {
	return &hook.Handler[*core.RequestEvent]{Id: id, Priority: priority, Func: func(e *core.RequestEvent) error {
		if e.Request.Method == http.MethodGet && e.Request.URL.Path == "/api/realtime" {
			e.Set(connectKey, b)
		}
		return e.Next()
	}}
}

// Stats are the broadcaster's counters.
func (b *Broadcaster) Stats() *Stats { return &b.stats }

func (b *Broadcaster) bindHooks() {
	b.app.OnRealtimeConnectRequest().Bind(&hook.Handler[*core.RealtimeConnectRequestEvent]{
		Id: "haptaRealtimeConnect", Func: b.connect,
	})
	// last of the handlers: it serves the stream instead of PocketBase's
	// loop, so it calls no handler after it
	b.app.OnRealtimeConnectRequest().Bind(&hook.Handler[*core.RealtimeConnectRequestEvent]{
		Id: "haptaRealtimeStream", Priority: streamPriority, Func: func(e *core.RealtimeConnectRequestEvent) error {
			if c, ok := e.Client.(*Client); ok && c.b == b {
				return b.stream(e, c)
			}
			// PocketBase's loop serves it and registers it in the app's
			// broker; registered here first (the same id again), it is
			// counted from then on
			ours := e.RequestEvent.Get(connectKey) == b // wrapped again by a handler
			if !ours {
				b.leftover.others.Register(e.Client)
				defer b.leftover.others.Unregister(e.Client.Id())
			}
			defer b.registered(e.App.SubscriptionsBroker(), e.Client, ours)()
			return e.Next()
		},
	})
	// below PocketBase's -99: the events are taken after PocketBase's own
	// handlers (the auth updates of its clients among them) have run
	const after = -100
	b.app.OnModelAfterCreateSuccess().Bind(&hook.Handler[*core.ModelEvent]{
		Id: "haptaRealtimeCreate", Priority: after, Func: b.committed("create"),
	})
	b.app.OnModelAfterUpdateSuccess().Bind(&hook.Handler[*core.ModelEvent]{
		Id: "haptaRealtimeUpdate", Priority: after, Func: b.committed("update"),
	})
	b.app.OnModelDelete().Bind(&hook.Handler[*core.ModelEvent]{
		Id: "haptaRealtimeDelete", Priority: after, Func: b.deleting,
	})
	// where PocketBase makes its own messages of a delete: a delete that a
	// hook stops before (a soft delete) sends none, as in PocketBase
	b.app.OnModelDelete().Bind(&hook.Handler[*core.ModelEvent]{
		Id: "haptaRealtimeDeleteReached", Priority: 99, Func: b.deleteReached,
	})
	b.app.OnModelAfterDeleteSuccess().Bind(&hook.Handler[*core.ModelEvent]{
		Id: "haptaRealtimeDeleted", Priority: after, Func: b.deleted,
	})
	b.app.OnModelAfterDeleteError().Bind(&hook.Handler[*core.ModelErrorEvent]{
		Id: "haptaRealtimeDeleteFailed", Priority: after, Func: func(e *core.ModelErrorEvent) error {
			if ev := b.takeFailed(e.Model); ev != nil {
				b.cancel(ev)
			}
			return e.Next()
		},
	})
	// plans depend on the schema (indexes, rules): forget them when it changes
	forgetPlans := func(e *core.CollectionEvent) error {
		b.enqueue(func(*registry) { clear(b.plans) })
		return e.Next()
	}
	b.app.OnCollectionAfterCreateSuccess().BindFunc(forgetPlans)
	b.app.OnCollectionAfterUpdateSuccess().BindFunc(forgetPlans)
	b.app.OnCollectionAfterDeleteSuccess().BindFunc(forgetPlans)
	b.bindBracketOpeners()
	b.app.OnTerminate().Bind(&hook.Handler[*core.TerminateEvent]{
		Id: "haptaRealtimeStop", Func: func(e *core.TerminateEvent) error {
			// a restart replaces the process, or when that fails PocketBase
			// bootstraps the same app again, which this broadcaster serves on
			if !e.IsRestart {
				b.Close()
			}
			return e.Next()
		},
	})
}

func (b *Broadcaster) connect(e *core.RealtimeConnectRequestEvent) error {
	if e.RequestEvent.Get(connectKey) != b {
		return e.Next() // served by PocketBase's own handlers (and counted among others by the last one)
	}
	c := newClient(b, e.Client)
	e.Client = c
	defer c.gone()
	return e.Next()
}

// disconnect ends a client that fell too far behind.
func (b *Broadcaster) disconnect(c *Client) {
	if c.IsDiscarded() {
		return
	}
	b.stats.Disconnects.Add(1)
	b.app.Logger().Warn("realtime: a client fell too far behind and was disconnected",
		slog.String("clientId", c.Id()), slog.Int("queued", b.options.QueueSize))
	c.Discard()
	c.failWrites()
}

// enqueue queues a registry change; it never waits.
func (b *Broadcaster) enqueue(mutate func(*registry)) { b.push(item{mutate: mutate}) }

func (b *Broadcaster) push(it item) {
	b.qMu.Lock()
	if b.closed {
		b.qMu.Unlock()
		if it.event != nil {
			it.event.finish()
		}
		return
	}
	b.queue = append(b.queue, it)
	b.qMu.Unlock()
	b.qCond.Signal()
}

func (b *Broadcaster) run() {
	defer close(b.done)
	b.worker.Store(goroutineID())
	for {
		b.qMu.Lock()
		for len(b.queue) == 0 && !b.closed {
			b.qCond.Wait()
		}
		items, closed := b.queue, b.closed
		b.queue = nil
		b.qMu.Unlock()
		for _, it := range items {
			switch {
			case it.mutate != nil:
				it.mutate(b.reg)
			case it.release != nil:
				if !it.release.cancelled {
					b.sendAll(it.release.deliveries)
				}
			case closed:
				it.event.finish()
			default:
				b.process(it.event)
			}
		}
		if closed {
			return
		}
	}
}

// process makes one event's messages and sends them (keeps them, for a
// prepared delete); a panic (in a user's enrich hook, say) loses that
// event, not the broadcaster.
func (b *Broadcaster) process(ev *event) {
	defer ev.finish()
	defer func() {
		if r := recover(); r != nil {
			b.app.Logger().Error("realtime: an event could not be delivered", "panic", r,
				"collection", ev.record.Collection().Name, "id", ev.record.Id, "action", ev.action)
		}
	}()
	b.stats.Events.Add(1)
	deliveries := b.broadcast(ev)
	if ev.prepare {
		ev.deliveries = deliveries
		return
	}
	b.sendAll(deliveries)
}

func (b *Broadcaster) sendAll(deliveries []delivery) {
	b.stats.Messages.Add(int64(len(deliveries)))
	for _, d := range deliveries {
		d.client.Send(d.message)
	}
}

func (b *Broadcaster) sweep() {
	ticker := time.NewTicker(time.Minute)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			b.sweepPending()
		case <-b.done:
			return
		}
	}
}

// Close stops the broadcaster; events not yet delivered are dropped.
func (b *Broadcaster) Close() {
	b.qMu.Lock()
	already := b.closed
	b.closed = true
	b.qMu.Unlock()
	b.qCond.Broadcast()
	if !already {
		<-b.done
	}
}
