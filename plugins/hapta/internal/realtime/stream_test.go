package realtime

import (
	"bufio"
	"bytes"
	"errors"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/subscriptions"

	"github.com/postr-inc/hapta/internal/sse"
	"github.com/postr-inc/hapta/internal/testsupport"
)

// rawStream opens GET /api/realtime and returns its body, de-chunked by
// Go's HTTP client but otherwise the bytes the server wrote.
func rawStream(t *testing.T, base string) *bufio.Reader {
	t.Helper()
	res, err := http.Get(base + "/api/realtime")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if got := res.Header.Get("Content-Type"); got != "text/event-stream" {
		t.Fatalf("Content-Type %q", got)
	}
	return bufio.NewReader(res.Body)
}

// frame reads one SSE message: everything up to its blank line.
func frame(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	var b strings.Builder
	for !strings.HasSuffix(b.String(), "\n\n") {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("after %q: %v", b.String(), err)
		}
		b.WriteString(line)
	}
	return b.String()
}

// The stream writes PocketBase's bytes: Message.WriteSSE's frame, with the
// client id as the event id, for PB_CONNECT and for record events.
func TestTheStreamWritesPocketBasesFrames(t *testing.T) {
	t.Parallel()
	app, _, base := served(t, Options{}, "")
	r := rawStream(t, base)
	connect := frame(t, r)
	clientID, ok := strings.CutPrefix(strings.SplitN(connect, "\n", 2)[0], "id:")
	if !ok || clientID == "" {
		t.Fatalf("PB_CONNECT frame %q", connect)
	}
	want := func(m subscriptions.Message) string {
		var b bytes.Buffer
		if err := m.WriteSSE(&b, clientID); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	if connect != want(subscriptions.Message{Name: "PB_CONNECT", Data: []byte(`{"clientId":"` + clientID + `"}`)}) {
		t.Fatalf("PB_CONNECT frame %q", connect)
	}
	if err := sse.Subscribe(http.DefaultClient, base, clientID, "", "notes/*"); err != nil {
		t.Fatal(err)
	}
	record := testsupport.SaveRecord(t, app, "notes", map[string]any{"title": "a"})
	got := frame(t, r)
	data, _ := strings.CutPrefix(strings.Split(got, "\n")[2], "data:")
	if got != want(subscriptions.Message{Name: "notes/*", Data: []byte(data)}) || !strings.Contains(data, `"id":"`+record.Id+`"`) {
		t.Fatalf("record frame %q", got)
	}
}

// OnRealtimeMessageSend sees every message, PB_CONNECT included, and may
// replace it; an error from it ends the connection, as in PocketBase.
func TestOnRealtimeMessageSendSeesAndChangesEveryMessage(t *testing.T) {
	t.Parallel()
	app, _, base := served(t, Options{}, "")
	var mu sync.Mutex
	var seen []string
	app.OnRealtimeMessageSend().BindFunc(func(e *core.RealtimeMessageEvent) error {
		mu.Lock()
		seen = append(seen, e.Message.Name)
		mu.Unlock()
		if strings.Contains(string(e.Message.Data), `"title":"fail"`) {
			return errors.New("refused")
		}
		e.Message = &subscriptions.Message{Name: e.Message.Name, Data: bytes.ReplaceAll(e.Message.Data, []byte("secret"), []byte("hidden"))}
		return e.Next()
	})
	stream := subscribed(t, base, "", "notes/*")
	testsupport.SaveRecord(t, app, "notes", map[string]any{"title": "secret"})
	if got := next(t, stream); got != "create hidden" {
		t.Fatalf("got %q, want the message the hook made", got)
	}
	mu.Lock()
	if len(seen) != 2 || seen[0] != "PB_CONNECT" || seen[1] != "notes/*" {
		t.Fatalf("the hook saw %q", seen)
	}
	mu.Unlock()
	testsupport.SaveRecord(t, app, "notes", map[string]any{"title": "fail"})
	select {
	case event, ok := <-stream.Events:
		if ok {
			t.Fatalf("after the hook's error: %+v", event)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the connection is still open after the hook's error")
	}
	testsupport.Eventually(t, "the client unregistered", func() bool { return app.SubscriptionsBroker().TotalClients() == 0 })
}

// The idle timeout and the maximum lifetime that OnRealtimeConnectRequest
// handlers set end the stream as PocketBase's loop does: a message moves
// the idle timeout on, the lifetime ends the stream even while messages
// flow.
func TestTheStreamEndsAfterItsIdleTimeoutAndItsLifetime(t *testing.T) {
	t.Parallel()
	app, _, base := served(t, Options{}, "")
	const idle, lifetime = 400 * time.Millisecond, 1500 * time.Millisecond
	var mu sync.Mutex
	connected := map[string]time.Time{}
	app.OnRealtimeConnectRequest().BindFunc(func(e *core.RealtimeConnectRequestEvent) error {
		e.IdleTimeout, e.MaxTimeout = idle, lifetime
		mu.Lock()
		connected[e.Client.Id()] = time.Now()
		mu.Unlock()
		return e.Next()
	})
	quiet := subscribed(t, base, "", "other/*")
	busy := subscribed(t, base, "", "notes/*")
	lived := func(s *sse.Stream) time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return time.Since(connected[s.ClientID])
	}

	quietEvents, busyEvents := quiet.Events, busy.Events // nil once ended
	ticker := time.NewTicker(idle / 4)
	defer ticker.Stop()
	deadline := time.After(10 * time.Second)
	received := 0
	for quietEvents != nil || busyEvents != nil {
		select {
		case <-ticker.C:
			testsupport.SaveRecord(t, app, "notes", map[string]any{"title": "tick"})
		case _, ok := <-busyEvents:
			if ok {
				received++
				continue
			}
			busyEvents = nil
			if took := lived(busy); took < lifetime || took > lifetime+idle {
				t.Fatalf("the busy stream ended after %v, want its lifetime of %v", took, lifetime)
			}
		case _, ok := <-quietEvents:
			if ok {
				t.Fatal("the quiet stream got a message")
			}
			quietEvents = nil
			if took := lived(quiet); took < idle || took > lifetime-idle/2 {
				t.Fatalf("the quiet stream ended after %v, want its idle timeout of %v", took, idle)
			}
		case <-deadline:
			t.Fatal("a stream is still open")
		}
	}
	// messages came every idle/4 for the whole lifetime: the idle timeout
	// never ended the busy stream
	if received < int(lifetime/(idle/4))/2 {
		t.Fatalf("the busy stream received %d messages", received)
	}
}

// A client that a connect handler wrapped again is served by PocketBase's
// loop, which reads the same queue.
func TestAClientWrappedAgainIsServedByPocketBasesLoop(t *testing.T) {
	t.Parallel()
	app, _, base := served(t, Options{}, "")
	app.OnRealtimeConnectRequest().BindFunc(func(e *core.RealtimeConnectRequestEvent) error {
		e.Client = wrappedAgain{e.Client}
		return e.Next()
	})
	stream := subscribed(t, base, "", "notes/*")
	testsupport.SaveRecord(t, app, "notes", map[string]any{"title": "a"})
	if got := next(t, stream); got != "create a" {
		t.Fatalf("got %q", got)
	}
}

type wrappedAgain struct{ subscriptions.Client }

// A client that stops reading is ended by the watchdog once a write has
// waited WriteTimeout, however roomy its queue.
func TestAClientThatStopsReadingIsEndedAfterTheWriteTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	app, b, base := served(t, Options{QueueSize: 100_000, WriteTimeout: timeout}, "")
	slow := stalledSubscriber(t, base, "notes/*")
	big := strings.Repeat("x", 256<<10)
	deadline := time.Now().Add(20 * time.Second)
	for saved := 0; b.Stats().Stalls.Load() == 0; saved++ {
		if time.Now().After(deadline) {
			t.Fatal("the watchdog did not end the client")
		}
		if saved < 400 { // 100 MiB: more than any socket buffer holds
			testsupport.SaveRecord(t, app, "notes", map[string]any{"title": big})
		}
		time.Sleep(time.Millisecond)
	}
	if n := b.Stats().Disconnects.Load(); n != 0 {
		t.Fatalf("%d disconnects for a full queue, want the write timeout's", n)
	}
	testsupport.Eventually(t, "the client unregistered", func() bool { return app.SubscriptionsBroker().TotalClients() == 0 })
	_ = slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := bufio.NewReader(slow).WriteTo(discard{}); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatalf("the slow client's connection is still open: %v", err)
	}
}

// The handlers around the stream see the request's context as they see it
// around PocketBase's loop: ended after a timeout, and not after the
// client was discarded while its connection stays open.
func TestHandlersAfterTheStreamSeeTheRequestAsAroundPocketBasesLoop(t *testing.T) {
	t.Parallel()
	for _, loop := range []string{"hapta's stream", "PocketBase's loop"} {
		for _, end := range []string{"discarded", "idle timeout"} {
			t.Run(loop+", "+end, func(t *testing.T) {
				t.Parallel()
				app, _, base := served(t, Options{}, "")
				after := make(chan error, 1)
				app.OnRealtimeConnectRequest().BindFunc(func(e *core.RealtimeConnectRequestEvent) error {
					if loop == "PocketBase's loop" {
						e.Client = wrappedAgain{e.Client}
					}
					if end == "idle timeout" {
						e.IdleTimeout = 200 * time.Millisecond
					}
					err := e.Next()
					after <- e.Request.Context().Err()
					return err
				})
				stream := subscribed(t, base, "", "notes/*")
				if end == "discarded" {
					client, err := app.SubscriptionsBroker().ClientById(stream.ClientID)
					if err != nil {
						t.Fatal(err)
					}
					client.Discard()
				}
				select {
				case err := <-after:
					if timedOut := end == "idle timeout"; timedOut != (err != nil) {
						t.Fatalf("the request's context after the stream: %v", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("the stream did not end")
				}
			})
		}
	}
}

// A timeout set as long as it goes (its limit turned off) leaves the other
// one ending the stream.
func TestAnEndlessTimeoutLeavesTheOtherOne(t *testing.T) {
	t.Parallel()
	const short = 300 * time.Millisecond
	for _, endless := range []string{"idle timeout", "lifetime"} {
		t.Run(endless, func(t *testing.T) {
			t.Parallel()
			app, _, base := served(t, Options{}, "")
			app.OnRealtimeConnectRequest().BindFunc(func(e *core.RealtimeConnectRequestEvent) error {
				e.IdleTimeout, e.MaxTimeout = math.MaxInt64, short
				if endless == "lifetime" {
					e.IdleTimeout, e.MaxTimeout = short, math.MaxInt64
				}
				return e.Next()
			})
			stream := subscribed(t, base, "", "notes/*")
			select {
			case _, open := <-stream.Events:
				if open {
					t.Fatal("a message on a quiet stream")
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("the stream is still open, %v after its connection", 10*time.Second)
			}
		})
	}
}
