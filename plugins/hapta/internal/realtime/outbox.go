package realtime

import (
	"sync"
	"sync/atomic"

	"github.com/pocketbase/pocketbase/tools/subscriptions"
)

// outbox is a client's queue of messages, up to a limit: a small channel
// that the client's stream reads and, when the client reads slower than
// messages come, a backlog behind it that a goroutine (running only then)
// moves into the channel in order. A full-size buffered channel per client
// would hold its whole limit in memory from the start.
type outbox struct {
	out   chan subscriptions.Message
	limit int
	stop  chan struct{}

	mu      sync.Mutex
	backlog []subscriptions.Message
	pumping chan struct{} // closed when the running pump ends; nil for none
	closed  atomic.Bool   // set with mu held; read without it by the stream per message
}

const outboxChannel = 16

func newOutbox(limit int) *outbox {
	return &outbox{out: make(chan subscriptions.Message, min(limit, outboxChannel)), limit: limit, stop: make(chan struct{})}
}

// push queues m without waiting; false when the queue is full. A closed
// outbox drops m.
func (o *outbox) push(m subscriptions.Message) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed.Load() {
		return true
	}
	if len(o.backlog) == 0 {
		select {
		case o.out <- m:
			return true
		default:
		}
	}
	if len(o.backlog)+cap(o.out) >= o.limit {
		return false
	}
	o.backlog = append(o.backlog, m)
	if o.pumping == nil {
		o.pumping = make(chan struct{})
		go o.pump(o.pumping)
	}
	return true
}

// pump moves the backlog into the channel, oldest first, until it is empty.
func (o *outbox) pump(done chan struct{}) {
	defer close(done)
	for {
		o.mu.Lock()
		if len(o.backlog) == 0 || o.closed.Load() {
			o.backlog, o.pumping = nil, nil
			o.mu.Unlock()
			return
		}
		next := o.backlog[0]
		o.mu.Unlock()
		select {
		case o.out <- next:
		case <-o.stop:
			return
		}
		o.mu.Lock()
		o.backlog[0] = subscriptions.Message{}
		o.backlog = o.backlog[1:]
		o.mu.Unlock()
	}
}

// close stops the queue; the stream reads what the channel holds, then
// finds it closed.
func (o *outbox) close() {
	o.mu.Lock()
	if o.closed.Load() {
		o.mu.Unlock()
		return
	}
	o.closed.Store(true)
	close(o.stop)
	pumping := o.pumping
	o.mu.Unlock()
	if pumping != nil {
		<-pumping
	}
	close(o.out)
}

func (o *outbox) isClosed() bool { return o.closed.Load() }
