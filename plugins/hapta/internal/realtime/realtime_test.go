package realtime

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/subscriptions"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/postr-inc/hapta/internal/sse"
	"github.com/postr-inc/hapta/internal/testsupport"
)

// served is an app with the broadcaster bound and its router served.
func served(t *testing.T, options Options, listRule string) (core.App, *Broadcaster, string) {
	t.Helper()
	app := testsupport.NewApp(t, func(core.App) {})
	b := Bind(app, options)
	t.Cleanup(b.Close)
	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		se.Router.Bind(b.Middleware("realtimeTest", 0))
		b.SealAfterRouter()
		return se.Next()
	})
	users, _ := app.FindCollectionByNameOrId("users")
	notes := core.NewBaseCollection("notes")
	notes.ListRule = types.Pointer(listRule)
	notes.Fields.Add(&core.TextField{Name: "title", Max: 1 << 20}, &core.RelationField{Name: "owner", CollectionId: users.Id, MaxSelect: 1})
	if err := app.Save(notes); err != nil {
		t.Fatal(err)
	}
	server, err := testsupport.Serve(t, app)
	if err != nil {
		t.Fatal(err)
	}
	return app, b, server.URL
}

func subscribed(t *testing.T, base, token string, subs ...string) *sse.Stream {
	t.Helper()
	stream, err := sse.Connect(http.DefaultClient, base, 256)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stream.Close)
	if err := stream.Subscribe(token, subs...); err != nil {
		t.Fatal(err)
	}
	return stream
}

// next is the stream's next record event: its action and title.
func next(t *testing.T, stream *sse.Stream) string {
	t.Helper()
	select {
	case event, ok := <-stream.Events:
		if !ok {
			t.Fatal("the stream ended")
		}
		var data struct {
			Action string
			Record struct{ Title string }
		}
		if err := json.Unmarshal([]byte(event.Data), &data); err != nil {
			t.Fatal(err)
		}
		return data.Action + " " + data.Record.Title
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return ""
}

// Writes do not wait for the broadcaster, and an event delivered late is
// still judged on the data its write committed: a note created for A then
// given to B reaches A as created (as PocketBase, which checks at once,
// sends it), and its update does not.
func TestAnEventIsJudgedOnTheDataItCommitted(t *testing.T) {
	t.Parallel()
	app, b, base := served(t, Options{}, "owner = @request.auth.id")
	a, tokenA := testsupport.NewAuthRecord(t, app, "users", "a@example.com")
	other, _ := testsupport.NewAuthRecord(t, app, "users", "b@example.com")
	stream := subscribed(t, base, tokenA, "notes/*")
	testsupport.SaveRecord(t, app, "notes", map[string]any{"title": "hold", "owner": a.Id})
	release := make(chan struct{})
	b.enqueue(func(*registry) { <-release }) // the broadcaster's goroutine waits here

	written := make(chan struct{})
	go func() {
		defer close(written)
		note := testsupport.SaveRecord(t, app, "notes", map[string]any{"title": "mine", "owner": a.Id})
		note.Set("owner", other.Id)
		if err := app.Save(note); err != nil {
			t.Error(err)
		}
	}()
	select {
	case <-written:
	case <-time.After(10 * time.Second):
		t.Fatal("the writes waited for the broadcaster")
	}
	close(release)
	testsupport.SaveRecord(t, app, "notes", map[string]any{"title": "last", "owner": a.Id})
	for _, want := range []string{"create hold", "create mine", "create last"} {
		if got := next(t, stream); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}

// A client that stops reading is disconnected once its queue is full or a
// write to it times out, while another gets every message and the writes
// go on.
func TestASlowSubscriberIsDisconnectedAndTheOthersKeepUp(t *testing.T) {
	t.Parallel()
	// a queue a reader keeps up with even on a busy machine, and more
	// messages than it and the sockets' buffers hold for one that stops
	app, b, base := served(t, Options{QueueSize: 64, WriteTimeout: 2 * time.Second}, "")
	slow := stalledSubscriber(t, base, "notes/*")
	fast := subscribed(t, base, "", "notes/*")

	big := strings.Repeat("x", 64<<10)
	const writes = 400
	received := make(chan error, 1)
	go func() {
		for i := range writes {
			select {
			case event, ok := <-fast.Events:
				if !ok {
					received <- fmt.Errorf("the fast client's stream ended after %d messages", i)
					return
				}
				if !strings.Contains(event.Data, fmt.Sprintf(`"title":"%d%s"`, i, big)) {
					received <- fmt.Errorf("message %d: %.60s", i, event.Data)
					return
				}
			case <-time.After(30 * time.Second):
				received <- fmt.Errorf("the fast client got %d of %d messages", i, writes)
				return
			}
		}
		received <- nil
	}()
	for i := range writes {
		testsupport.SaveRecord(t, app, "notes", map[string]any{"title": fmt.Sprint(i) + big})
	}
	if err := <-received; err != nil {
		t.Fatal(err)
	}
	// gone by its full queue, or by its write timeout, whichever came first
	testsupport.Eventually(t, "the slow client unregistered", func() bool { return app.SubscriptionsBroker().TotalClients() == 1 })
	t.Logf("disconnected for a full queue: %d", b.Stats().Disconnects.Load())
	// the server closed the slow connection: reading it now comes to its end
	_ = slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := bufio.NewReader(slow).WriteTo(discard{}); err != nil {
		t.Fatalf("the slow client's connection is still open: %v", err)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// stalledSubscriber connects and subscribes, then reads nothing more.
func stalledSubscriber(t *testing.T, base string, subs ...string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /api/realtime HTTP/1.1\r\nHost: test\r\n\r\n")
	reader := bufio.NewReader(conn)
	var clientID string
	for clientID == "" {
		line, err := reader.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if data, ok := strings.CutPrefix(strings.TrimSpace(line), "data:"); ok {
			var connect struct{ ClientID string }
			_ = json.Unmarshal([]byte(data), &connect)
			clientID = connect.ClientID
		}
	}
	if err := sse.Subscribe(http.DefaultClient, base, clientID, "", subs...); err != nil {
		t.Fatal(err)
	}
	return conn
}

// A subscriber whose token was revoked (its user's password changed, or
// its token key through a custom model struct) is a guest from then on,
// as in PocketBase: the per-user events stop, public ones go on.
func TestASubscriberWhoseTokenWasRevokedStopsReceiving(t *testing.T) {
	t.Parallel()
	revokes := map[string]func(t *testing.T, app core.App, user *core.Record){
		"a new password": func(t *testing.T, app core.App, user *core.Record) {
			user.SetPassword("a-new-password-123")
			if err := app.Save(user); err != nil {
				t.Fatal(err)
			}
		},
		"a token key changed through a custom model": func(t *testing.T, app core.App, user *core.Record) {
			changed := &userTokenKey{TokenKey: "a-new-token-key-0123456789abcdefghij"}
			changed.Id = user.Id
			changed.MarkAsNotNew()
			if err := app.Save(changed); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, revoke := range revokes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			app, _, base := served(t, Options{}, "owner = @request.auth.id")
			marks := core.NewBaseCollection("marks")
			marks.ListRule = types.Pointer("")
			marks.Fields.Add(&core.TextField{Name: "title"})
			if err := app.Save(marks); err != nil {
				t.Fatal(err)
			}
			user, token := testsupport.NewAuthRecord(t, app, "users", "a@example.com")
			stream := subscribed(t, base, token, "notes/*", "marks/*")

			testsupport.SaveRecord(t, app, "notes", map[string]any{"title": "before", "owner": user.Id})
			if got := next(t, stream); got != "create before" {
				t.Fatalf("got %q", got)
			}
			revoke(t, app, user)
			testsupport.SaveRecord(t, app, "notes", map[string]any{"title": "after", "owner": user.Id})
			testsupport.SaveRecord(t, app, "marks", map[string]any{"title": "mark"})
			if got := next(t, stream); got != "create mark" {
				t.Fatalf("got %q after the token was revoked, want only the public mark", got)
			}
		})
	}
}

// userTokenKey is a custom model struct of the users table, as code may
// write one.
type userTokenKey struct {
	core.BaseModel
	TokenKey string `db:"tokenKey"`
}

func (*userTokenKey) TableName() string { return "users" }

// A user who deletes itself hears of it, as in PocketBase, which makes a
// delete's messages before the delete, while the caller is still signed in.
func TestAUserWhoDeletesItselfGetsItsDelete(t *testing.T) {
	t.Parallel()
	app, _, base := served(t, Options{}, "")
	users, _ := app.FindCollectionByNameOrId("users")
	users.ListRule = types.Pointer("id = @request.auth.id")
	if err := app.Save(users); err != nil {
		t.Fatal(err)
	}
	user, token := testsupport.NewAuthRecord(t, app, "users", "a@example.com")
	stream := subscribed(t, base, token, "users/*")
	if err := app.Delete(user); err != nil {
		t.Fatal(err)
	}
	if got := next(t, stream); got != "delete " {
		t.Fatalf("got %q, want the delete", got)
	}
}

// A hook that keeps the row (a soft delete: it returns without e.Next())
// sends no delete, as in PocketBase.
func TestASoftDeleteSendsNoDelete(t *testing.T) {
	t.Parallel()
	app, _, base := served(t, Options{}, "")
	app.OnRecordDelete("notes").BindFunc(func(e *core.RecordEvent) error {
		e.Record.Set("title", "archived")
		return e.App.Save(e.Record)
	})
	stream := subscribed(t, base, "", "notes/*")
	note := testsupport.SaveRecord(t, app, "notes", map[string]any{"title": "x"})
	if err := app.Delete(note); err != nil {
		t.Fatal(err)
	}
	testsupport.SaveRecord(t, app, "notes", map[string]any{"title": "last"})
	for _, want := range []string{"create x", "update archived", "create last"} {
		if got := next(t, stream); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}

// Deletes that panic in a hook (which a router recovers) release their
// snapshots: with a limit of two, writes still go through after two.
func TestADeleteThatPanicsReleasesItsSnapshot(t *testing.T) {
	t.Parallel()
	app, b, base := served(t, Options{Snapshots: 2}, "")
	subscribed(t, base, "", "notes/*")
	app.OnRecordDelete("notes").BindFunc(func(e *core.RecordEvent) error {
		panic("a hook's bug")
	})
	for range 3 {
		note := testsupport.SaveRecord(t, app, "notes", map[string]any{"title": "x"})
		func() {
			defer func() { _ = recover() }()
			_ = app.Delete(note)
		}()
	}
	b.pendingMu.Lock()
	pending := len(b.pending)
	b.pendingMu.Unlock()
	if pending != 0 {
		t.Fatalf("%d deletes still pending", pending)
	}
	saveNoteWithin10s(t, app, "after", "a write waits for snapshots that are never released")
}

// saveNoteWithin10s saves a note titled title, and fails the test with
// why when the save has not returned within 10 s.
func saveNoteWithin10s(t *testing.T, app core.App, title, why string) {
	t.Helper()
	saved := make(chan struct{})
	go func() {
		defer close(saved)
		testsupport.SaveRecord(t, app, "notes", map[string]any{"title": title})
	}()
	select {
	case <-saved:
	case <-time.After(10 * time.Second):
		t.Fatal(why)
	}
}

// Many deletes at once, each cascading into another subscribed collection:
// a delete never waits for a snapshot inside its transaction, so they all
// end.
func TestConcurrentCascadingDeletesEnd(t *testing.T) {
	t.Parallel()
	app, _, base := served(t, Options{Snapshots: 4}, "")
	notes, _ := app.FindCollectionByNameOrId("notes")
	comments := core.NewBaseCollection("comments")
	comments.ListRule = types.Pointer("")
	comments.Fields.Add(&core.RelationField{Name: "note", CollectionId: notes.Id, MaxSelect: 1, CascadeDelete: true})
	if err := app.Save(comments); err != nil {
		t.Fatal(err)
	}
	stream := subscribed(t, base, "", "notes/*", "comments/*")
	const n = 80
	var all []*core.Record
	for i := range n {
		note := testsupport.SaveRecord(t, app, "notes", map[string]any{"title": fmt.Sprint(i)})
		testsupport.SaveRecord(t, app, "comments", map[string]any{"note": note.Id})
		all = append(all, note)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, note := range all {
			wg.Go(func() {
				<-start
				if err := app.Delete(note); err != nil {
					t.Error(err)
				}
			})
		}
		close(start)
		wg.Wait()
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the deletes did not end")
	}
	deletes := 0
	for deletes < 2*n {
		select {
		case event := <-stream.Events:
			if strings.Contains(event.Data, `"action":"delete"`) {
				deletes++
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d delete events", deletes, 2*n)
		}
	}
}

// A subscribe request that raced the end of its connection leaves nothing
// behind.
func TestASubscribeAfterTheConnectionEndedLeavesNothing(t *testing.T) {
	t.Parallel()
	app, b, _ := served(t, Options{}, "")
	c := newClient(b, subscriptions.NewDefaultClient())
	c.gone()
	c.Discard()
	c.Set(apis.RealtimeClientAuthKey, nil)
	c.Subscribe("notes/*")
	notes, _ := app.FindCollectionByNameOrId("notes")
	if any, _ := b.interest(notes); any {
		t.Fatal("the collection still counts a subscriber")
	}
	clients := make(chan int)
	b.enqueue(func(r *registry) { clients <- len(r.clients) })
	if n := <-clients; n != 0 {
		t.Fatalf("%d clients in the registry", n)
	}
}

// countingClient counts the lookups PocketBase's broadcast makes.
type countingClient struct {
	*subscriptions.DefaultClient
	lookups *atomic.Int64
}

func (c countingClient) Subscriptions(prefixes ...string) map[string]subscriptions.SubscriptionOptions {
	if len(prefixes) > 0 {
		c.lookups.Add(1)
	}
	return c.DefaultClient.Subscriptions(prefixes...)
}

// PocketBase's own broadcast handlers, still bound, walk only the clients
// hapta does not wrap: a wrapped client (here with a custom topic, which
// PocketBase's loop would look at) is not looked up on a write.
func TestPocketBasesLoopDoesNotWalkTheWrappedClients(t *testing.T) {
	t.Parallel()
	app, b, _ := served(t, Options{}, "")
	lookups := &atomic.Int64{}
	c := newClient(b, countingClient{subscriptions.NewDefaultClient(), lookups})
	c.Subscribe("custom-topic")
	defer b.registered(app.SubscriptionsBroker(), c, true)() // as its stream registers it
	testsupport.SaveRecord(t, app, "notes", map[string]any{"title": "x"})
	if n := lookups.Load(); n != 0 {
		t.Fatalf("PocketBase's loop looked the wrapped client up %d times", n)
	}
}

// A subscription to a collection that does not exist yet gets its events
// once it does (as in PocketBase), and custom topics of the same shape stay
// visible to prefix lookups (custom broadcasts use them).
func TestATopicOfACollectionCreatedLaterAndCustomTopics(t *testing.T) {
	t.Parallel()
	app, b, base := served(t, Options{}, "")
	stream := subscribed(t, base, "", "later/*", "room/42")
	later := core.NewBaseCollection("later")
	later.ListRule = types.Pointer("")
	later.Fields.Add(&core.TextField{Name: "title"})
	if err := app.Save(later); err != nil {
		t.Fatal(err)
	}
	testsupport.SaveRecord(t, app, "later", map[string]any{"title": "late"})
	if got := next(t, stream); got != "create late" {
		t.Fatalf("got %q", got)
	}
	var found bool
	for _, client := range app.SubscriptionsBroker().Clients() {
		if c, ok := client.(*Client); ok && c.b == b {
			_, found = c.Subscriptions("room/")["room/42"]
		}
	}
	if !found {
		t.Fatal("a custom topic is hidden from prefix lookups")
	}
}

// A restart that failed (PocketBase then bootstraps the same app again)
// leaves the broadcaster working.
func TestTheBroadcasterOutlivesAFailedRestart(t *testing.T) {
	t.Parallel()
	app, _, base := served(t, Options{}, "")
	if err := app.OnTerminate().Trigger(&core.TerminateEvent{App: app, IsRestart: true}); err != nil {
		t.Fatal(err)
	}
	stream := subscribed(t, base, "", "notes/*")
	saveNoteWithin10s(t, app, "a", "the write waits for a broadcaster that stopped")
	if got := next(t, stream); got != "create a" {
		t.Fatalf("got %q", got)
	}
}

// A client that code registers in the app's broker itself (PocketBase
// allows it) gets the record events PocketBase sends it, also while
// another client is still connecting (in a slow connect handler), and a
// connected subscriber still gets each event once.
func TestAClientRegisteredByCodeGetsItsEvents(t *testing.T) {
	t.Parallel()
	app, _, base := served(t, Options{}, "")
	stream := subscribed(t, base, "", "notes/*")
	var holding atomic.Bool
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	app.OnRealtimeConnectRequest().BindFunc(func(e *core.RealtimeConnectRequestEvent) error {
		if holding.CompareAndSwap(false, true) {
			<-release
		}
		return e.Next()
	})
	connecting, hangUp := context.WithCancel(context.Background())
	t.Cleanup(hangUp) // before the release: the server's end waits for this stream
	go func() {
		req, _ := http.NewRequestWithContext(connecting, http.MethodGet, base+"/api/realtime", nil)
		if res, err := http.DefaultClient.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	}()
	testsupport.Eventually(t, "a connection held in its connect handler", holding.Load)
	own := subscriptions.NewDefaultClient()
	own.Subscribe("notes/*")
	app.SubscriptionsBroker().Register(own)
	testsupport.SaveRecord(t, app, "notes", map[string]any{"title": "a"})
	select {
	case m := <-own.Channel():
		if m.Name != "notes/*" || !strings.Contains(string(m.Data), `"title":"a"`) {
			t.Fatalf("got %s %s", m.Name, m.Data)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the client registered by code got no event")
	}
	testsupport.SaveRecord(t, app, "notes", map[string]any{"title": "b"})
	for _, want := range []string{"create a", "create b"} {
		if got := next(t, stream); got != want {
			t.Fatalf("the connected subscriber got %q, want %q", got, want)
		}
	}
}
