package realtime

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/subscriptions"
)

// Client wraps the client PocketBase made for a realtime connection. It
// keeps PocketBase's subscriptions and store (the inner client), hides its
// record subscriptions from PocketBase's broadcast loop, tells the
// broadcaster about them and about the client's auth, and queues its
// messages for its stream (stream.go) in a bounded queue.
type Client struct {
	subscriptions.Client
	b        *Broadcaster
	box      *outbox
	response *http.ResponseController // the stream's response, set before the client is seen; nil for none

	mu      sync.RWMutex
	records map[string]recordSub // the subscriptions this package serves
	// others counts the subscriptions prefix lookups see: PocketBase's check
	// runs six times per client per event, on the writer's goroutine
	others atomic.Int64
	// ended is set when the connection ended: a subscribe request that
	// raced the end changes nothing then
	ended bool
	auth  *core.Record // as last set, for the broadcaster's index by auth

	frame []byte // the stream's write buffer, its goroutine's own
	// when the write in progress began (nanoseconds since epoch), for the
	// watchdog; 0 between writes
	writingSince atomic.Int64
	lastSent     atomic.Int64 // when the last write began, for the idle timeout
}

// newClient wraps inner.
func newClient(b *Broadcaster, inner subscriptions.Client) *Client {
	return &Client{Client: inner, b: b, box: newOutbox(b.options.QueueSize), records: map[string]recordSub{}}
}

// failWrites makes the SSE write in progress, and every later one, fail
// at once.
func (c *Client) failWrites() {
	if c.response != nil {
		_ = c.response.SetWriteDeadline(time.Now())
	}
}

// Channel is the client's bounded queue, which its stream reads (or
// PocketBase's loop, when a connect handler wrapped the client again).
func (c *Client) Channel() chan subscriptions.Message { return c.box.out }

// Subscriptions hides the record subscriptions from prefix lookups, which
// only PocketBase's broadcasts make; with no prefix it returns them all.
func (c *Client) Subscriptions(prefixes ...string) map[string]subscriptions.SubscriptionOptions {
	if len(prefixes) == 0 {
		return c.Client.Subscriptions()
	}
	if c.others.Load() == 0 {
		return nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	found := c.Client.Subscriptions(prefixes...)
	for name, sub := range c.records {
		if sub.hidden {
			delete(found, name)
		}
	}
	return found
}

func (c *Client) Subscribe(subs ...string) {
	c.Client.Subscribe(subs...)
	all := c.Client.Subscriptions()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return
	}
	for _, name := range subs {
		options, ok := all[name]
		if !ok {
			continue // PocketBase skipped it (empty)
		}
		if t, exists, ok := parseTopic(c.b.app, name); ok {
			c.forget(name)
			sub := recordSub{topic: t, expands: options.Query["expand"] != "", hidden: exists}
			c.records[name] = sub
			c.b.counted(sub, 1)
			c.b.enqueue(func(r *registry) { r.subscribe(c, name, t, options) })
		}
	}
	c.others.Store(int64(len(all) - c.hiddenCount()))
}

func (c *Client) Unsubscribe(subs ...string) {
	c.Client.Unsubscribe(subs...)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return
	}
	if len(subs) == 0 {
		for name := range c.records {
			c.forget(name)
		}
		c.others.Store(0)
		c.b.enqueue(func(r *registry) { r.unsubscribeAll(c) })
		return
	}
	for _, name := range subs {
		if c.forget(name) {
			c.b.enqueue(func(r *registry) { r.unsubscribe(c, name) })
		}
	}
	c.others.Store(int64(len(c.Client.Subscriptions()) - c.hiddenCount()))
}

func (c *Client) Set(key string, value any) {
	c.Client.Set(key, value)
	if key == apis.RealtimeClientAuthKey {
		auth, _ := value.(*core.Record)
		c.authChanged(auth)
	}
}

func (c *Client) Unset(key string) {
	c.Client.Unset(key)
	if key == apis.RealtimeClientAuthKey {
		c.authChanged(nil)
	}
}

func (c *Client) authChanged(auth *core.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ended {
		c.b.authSet(c, c.auth, auth)
		c.auth = auth
		c.b.enqueue(func(r *registry) { r.setAuth(c, auth) })
	}
}

// Send queues m without waiting; a client whose queue is full has fallen
// too far behind and is disconnected.
func (c *Client) Send(m subscriptions.Message) {
	if !c.box.push(m) {
		c.b.disconnect(c)
	}
}

func (c *Client) Discard() {
	c.box.close()
	c.Client.Discard()
}

func (c *Client) IsDiscarded() bool { return c.box.isClosed() }

// recordSub is a record subscription of the client's.
type recordSub struct {
	topic   topic
	expands bool // with an expand option
	hidden  bool // from prefix lookups: its collection existed when subscribed
}

// hiddenCount is how many subscriptions prefix lookups do not see (c.mu
// held).
func (c *Client) hiddenCount() int {
	n := 0
	for _, sub := range c.records {
		if sub.hidden {
			n++
		}
	}
	return n
}

// forget drops a record subscription from the client's count (c.mu held).
func (c *Client) forget(name string) bool {
	sub, ok := c.records[name]
	if ok {
		delete(c.records, name)
		c.b.counted(sub, -1)
	}
	return ok
}

// gone drops the client's record subscriptions when its connection ends.
func (c *Client) gone() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ended = true
	c.b.authSet(c, c.auth, nil)
	c.auth = nil
	for name := range c.records {
		c.forget(name)
	}
	c.b.enqueue(func(r *registry) { r.remove(c) })
}
