package realtime

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/subscriptions"
)

// streamPriority puts the stream's handler after every other handler of
// OnRealtimeConnectRequest (which run before and after it as they would
// around PocketBase's loop).
const streamPriority = 1 << 30

// stream serves the SSE stream of a client the broadcaster wraps, in place
// of PocketBase's loop (the final function of OnRealtimeConnectRequest,
// in apis/realtime.go), with the same registration, messages, hooks and
// timeouts, and less work per message: PocketBase's loop resets its idle
// timer, selects over four channels, makes a response controller and five
// writes per message, which at 10,000 subscribers cost more than all the
// rest of a public event's fan-out.
func (b *Broadcaster) stream(e *core.RealtimeConnectRequestEvent, c *Client) error {
	b.streams.add(c)
	defer b.streams.remove(c)
	broker := e.App.SubscriptionsBroker()
	broker.Register(c)
	defer broker.Unregister(c.Id())
	e.App.Logger().Debug("Realtime connection established", slog.String("clientId", c.Id()))

	connected := subscriptions.Message{Name: "PB_CONNECT", Data: []byte(`{"clientId":"` + c.Id() + `"}`)}
	if err := c.deliver(e.RequestEvent, &connected); err != nil {
		e.App.Logger().Debug("Realtime connection closed (failed to deliver PB_CONNECT)",
			slog.String("clientId", c.Id()), slog.String("error", err.Error()))
		return nil
	}

	// the loop waits on the queue alone: the request's end and the
	// timeouts close the queue instead of being selected on per message
	stopOnEnd := context.AfterFunc(e.Request.Context(), func() {
		e.App.Logger().Debug("Realtime connection closed (cancelled request)", slog.String("clientId", c.Id()))
		c.box.close()
	})
	defer stopOnEnd()
	timeouts := c.endAfterTimeouts(e)
	defer timeouts.Stop()
	for msg := range c.box.out {
		if err := c.deliver(e.RequestEvent, &msg); err != nil {
			e.App.Logger().Debug("Realtime connection closed (failed to deliver message)",
				slog.String("clientId", c.Id()), slog.String("error", err.Error()))
			return nil
		}
	}
	e.App.Logger().Debug("Realtime connection closed (closed channel)", slog.String("clientId", c.Id()))
	return nil
}

// endAfterTimeouts closes the client's queue when the connection has
// lived e.MaxTimeout or sent nothing for e.IdleTimeout, as PocketBase's
// two timers do; one timer, which a message does not reset (the timer
// reads when the last one was sent when it fires).
func (c *Client) endAfterTimeouts(e *core.RealtimeConnectRequestEvent) *time.Timer {
	endOfLife := time.Now().Add(e.MaxTimeout)
	var timer *time.Timer
	timer = time.AfterFunc(min(e.IdleTimeout, e.MaxTimeout), func() {
		now := time.Now()
		idleEnd := time.Unix(0, c.lastSent.Load()).Add(e.IdleTimeout)
		if !now.Before(endOfLife) || !now.Before(idleEnd) {
			c.box.close()
			return
		}
		timer.Reset(min(idleEnd.Sub(now), endOfLife.Sub(now)))
	})
	return timer
}

// deliver writes m through OnRealtimeMessageSend, as PocketBase's loop
// does; with no handlers bound, straight to the response.
func (c *Client) deliver(re *core.RequestEvent, m *subscriptions.Message) error {
	if c.IsDiscarded() {
		return errDisconnected
	}
	now := time.Now().UnixNano()
	c.lastSent.Store(now)
	// the watchdog ends a write that takes longer than WriteTimeout;
	// a deadline set per write would change a runtime timer per message
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

// stalled are the clients whose write in progress began before since.
func (s *streams) stalled(since time.Time) []*Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	var found []*Client
	for c := range s.all {
		if began := c.writingSince.Load(); began != 0 && began < since.UnixNano() {
			found = append(found, c)
		}
	}
	return found
}

// watch disconnects, every tenth of WriteTimeout, the clients whose write
// has taken longer than WriteTimeout (whose reader stopped reading): the
// deadline it sets fails the write at once.
func (b *Broadcaster) watch() {
	ticker := time.NewTicker(b.options.WriteTimeout / 10)
	defer ticker.Stop()
	for {
		select {
		case now := <-ticker.C:
			for _, c := range b.streams.stalled(now.Add(-b.options.WriteTimeout)) {
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
