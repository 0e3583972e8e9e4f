package realtime

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/subscriptions"
)

// streamPriority puts the stream's handler after every other handler of
// OnRealtimeConnectRequest, which run around it as they would around
// PocketBase's loop (but for one bound at this very priority after it).
const streamPriority = math.MaxInt

// epoch makes the stream's timestamps monotonic: nanoseconds since it.
var epoch = time.Now()

func sinceEpoch() int64 { return int64(time.Since(epoch)) }

// stream serves the SSE stream of a client the broadcaster wraps, in place
// of PocketBase's loop (the final function of OnRealtimeConnectRequest,
// in apis/realtime.go), with the same registration, messages, hooks,
// timeouts and logs, and less work per message: PocketBase's loop resets
// its idle timer, selects over four channels, makes a response controller
// and five writes per message, which at 10,000 subscribers cost more than
// all the rest of a public event's fan-out.
func (b *Broadcaster) stream(e *core.RealtimeConnectRequestEvent, c *Client) error {
	// as in PocketBase, a timeout ends the request's context; any other
	// end leaves the handlers around the stream the request they gave it
	request := e.Request
	ctx, cancel := context.WithCancel(request.Context())
	e.Request = request.WithContext(ctx)
	defer func() {
		if timedOut := ctx.Err() != nil && request.Context().Err() == nil; !timedOut {
			e.Request = request
		}
		cancel()
	}()
	// before the client is registered: the worker and the watchdog, which
	// find it through the broker and streams, fail its writes through this
	c.response = http.NewResponseController(e.Response)

	b.streams.add(c)
	defer b.streams.remove(c)
	defer b.registered(e.App.SubscriptionsBroker(), c, true)()
	e.App.Logger().Debug("Realtime connection established", slog.String("clientId", c.Id()))

	connected := subscriptions.Message{Name: "PB_CONNECT", Data: []byte(`{"clientId":"` + c.Id() + `"}`)}
	if err := c.deliver(e.RequestEvent, &connected); err != nil {
		e.App.Logger().Debug("Realtime connection closed (failed to deliver PB_CONNECT)",
			slog.String("clientId", c.Id()), slog.String("error", err.Error()))
		return nil
	}

	// the loop waits on the queue alone: the request's end (the client
	// gone, or a timeout) closes the queue instead of being selected on
	// per message
	stopOnEnd := context.AfterFunc(ctx, c.box.close)
	defer stopOnEnd()
	stopTimeouts := c.cancelAfterTimeouts(e, cancel)
	defer stopTimeouts()
	for msg := range c.box.out {
		if c.IsDiscarded() {
			break // ended: what is still queued is not sent
		}
		if err := c.deliver(e.RequestEvent, &msg); err != nil {
			e.App.Logger().Debug("Realtime connection closed (failed to deliver message)",
				slog.String("clientId", c.Id()), slog.String("error", err.Error()))
			return nil
		}
	}
	if ctx.Err() != nil {
		e.App.Logger().Debug("Realtime connection closed (cancelled request)", slog.String("clientId", c.Id()))
	} else {
		e.App.Logger().Debug("Realtime connection closed (closed channel)", slog.String("clientId", c.Id()))
	}
	return nil
}

// cancelAfterTimeouts ends the request once the connection has lived
// e.MaxTimeout or sent nothing for e.IdleTimeout, as PocketBase's two
// timers do, with one timer that a message does not reset: when it fires
// it reads when the last message was sent. stop stops it.
func (c *Client) cancelAfterTimeouts(e *core.RealtimeConnectRequestEvent, cancel context.CancelFunc) (stop func()) {
	began := sinceEpoch()
	var mu sync.Mutex // orders the timer's first firing after its assignment
	stopped := false
	var timer *time.Timer
	mu.Lock()
	defer mu.Unlock()
	timer = time.AfterFunc(min(e.IdleTimeout, e.MaxTimeout), func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		// what is left of each, without a sum that a huge timeout (one
		// that turns its limit off) would overflow
		now := sinceEpoch()
		left := min(int64(e.IdleTimeout)-(now-c.lastSent.Load()), int64(e.MaxTimeout)-(now-began))
		if left <= 0 {
			cancel()
			return
		}
		timer.Reset(time.Duration(left))
	})
	return func() {
		mu.Lock()
		stopped = true
		mu.Unlock()
		timer.Stop()
	}
}

// deliver writes m through OnRealtimeMessageSend, as PocketBase's loop
// does; with no handlers bound, straight to the response.
func (c *Client) deliver(re *core.RequestEvent, m *subscriptions.Message) error {
	now := sinceEpoch()
	c.lastSent.Store(now)
	// the watchdog ends a write (with its hooks) that takes longer than
	// WriteTimeout; a deadline set per write would change a runtime timer
	// per message
	c.writingSince.Store(now)
	defer c.writingSince.Store(0)
	sendHook := re.App.OnRealtimeMessageSend()
	if sendHook.Length() == 0 {
		return c.writeSSE(re, m)
	}
	event := &core.RealtimeMessageEvent{RequestEvent: re, Client: c, Message: m}
	return sendHook.Trigger(event, func(e *core.RealtimeMessageEvent) error {
		if err := e.Message.WriteSSE(e.Response, e.Client.Id()); err != nil {
			return err
		}
		return e.Flush()
	})
}

// writeSSE writes m as Message.WriteSSE does, in one write, and flushes.
func (c *Client) writeSSE(re *core.RequestEvent, m *subscriptions.Message) error {
	frame := c.frame[:0]
	frame = append(frame, "id:"...)
	frame = append(frame, c.Id()...)
	frame = append(frame, "\nevent:"...)
	frame = append(frame, m.Name...)
	frame = append(frame, "\ndata:"...)
	frame = append(frame, m.Data...)
	frame = append(frame, "\n\n"...)
	if cap(frame) <= maxKeptFrame {
		c.frame = frame
	}
	if _, err := re.Response.Write(frame); err != nil {
		return err
	}
	return c.response.Flush()
}

// maxKeptFrame is the largest write buffer a client keeps between messages.
const maxKeptFrame = 4 << 10

// streams are the clients whose streams are open, for the watchdog.
type streams struct {
	mu  sync.Mutex
	all map[*Client]struct{}
}

func (s *streams) add(c *Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.all == nil {
		s.all = map[*Client]struct{}{}
	}
	s.all[c] = struct{}{}
}

func (s *streams) remove(c *Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.all, c)
}

// stalled are the clients whose write in progress began before since
// (nanoseconds since epoch).
func (s *streams) stalled(since int64) []*Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	var found []*Client
	for c := range s.all {
		if began := c.writingSince.Load(); began != 0 && began < since {
			found = append(found, c)
		}
	}
	return found
}

// watch disconnects, every tenth of WriteTimeout, the clients whose write
// has taken longer than WriteTimeout (whose reader stopped reading): the
// deadline it sets fails the write at once.
func (b *Broadcaster) watch() {
	ticker := time.NewTicker(max(b.options.WriteTimeout/10, time.Millisecond))
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			for _, c := range b.streams.stalled(sinceEpoch() - int64(b.options.WriteTimeout)) {
				b.stats.Stalls.Add(1)
				b.app.Logger().Warn("realtime: a client took no message for the write timeout and was disconnected",
					slog.String("clientId", c.Id()), slog.Duration("writeTimeout", b.options.WriteTimeout))
				c.Discard()
				c.failWrites()
			}
		case <-b.done:
			return
		}
	}
}
