package cluster

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/postr-inc/hapta/internal/testsupport"
	"github.com/postr-inc/hapta/plugins/hapta/internal/recordcache"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// A bump the stream did not take makes every write answer a sequence that
// the flush covering it has reached: no other bump is published before
// the flush, so a reader waiting for that sequence sees the flush first.
func TestALostBumpIsCoveredByTheFlushAtTheSequenceWritesAnswer(t *testing.T) {
	t.Parallel()
	port, dir := testsupport.FreePort(t), t.TempDir()
	nats := testsupport.NATS(t, port, dir)
	versions := recordcache.NewVersions()
	primary, err := StartPrimary(Config{NATS: []string{"nats://127.0.0.1:" + strconv.Itoa(port)}}, versions, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(primary.Close)
	testsupport.Eventually(t, "the stream is ready", func() bool { return !primary.unflushed() })
	versions.RecordWritten("posts", "p1")
	published := primary.Seq()
	if primary.writeSeq() != published || published == 0 {
		t.Fatalf("a published write answers %d, the stream is at %d", primary.writeSeq(), published)
	}

	nats.Shutdown()
	nats.WaitForShutdown()
	versions.RecordWritten("posts", "p2") // lost
	versions.RecordWritten("posts", "p3") // held back
	answered := primary.writeSeq()
	if answered <= published || !primary.unflushed() {
		t.Fatalf("after a lost bump a write answers %d, the stream was at %d", answered, published)
	}

	testsupport.NATS(t, port, dir)
	testsupport.Eventually(t, "the flush is published", func() bool { return !primary.unflushed() })
	js, err := jetstream.New(primary.conn)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(context.Background(), streamName)
	if err != nil {
		t.Fatal(err)
	}
	flushReached := func(from, by uint64) bool {
		t.Helper()
		for seq := from; seq <= by; seq++ {
			if msg, err := stream.GetMsg(context.Background(), seq); err == nil && string(msg.Data) == `{"s":true}` {
				return true
			}
		}
		return false
	}
	if !flushReached(published+1, answered) {
		t.Fatalf("no flush from %d to %d, the sequence writes answered", published+1, answered)
	}

	// a publish that failed with NATS up (a timeout): the writes after it
	// are held back, not published ahead of the flush
	primary.publishing.Lock()
	primary.lost.Add(1)
	primary.publishing.Unlock()
	published = primary.Seq()
	answered = primary.writeSeq()
	versions.RecordWritten("posts", "p4")
	testsupport.Eventually(t, "the flush is published", func() bool { return !primary.unflushed() })
	if answered != published+1 || !flushReached(answered, answered) {
		t.Fatalf("the writes answered %d, the stream was at %d: not the flush", answered, published)
	}
}

// An edge that hears of a stream created again (a store lost, a stream
// deleted) stops answering from its cache, forgets what it kept, follows
// the new stream, and answers again once caught up.
func TestAnEdgeStartsOverWhenTheStreamIsCreatedAgain(t *testing.T) {
	t.Parallel()
	port := testsupport.FreePort(t)
	testsupport.NATS(t, port, t.TempDir())
	natsURL := "nats://127.0.0.1:" + strconv.Itoa(port)
	versions := recordcache.NewVersions()
	primary, err := StartPrimary(Config{NATS: []string{natsURL}}, versions, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(primary.Close)
	primaryURL, _ := url.Parse("http://127.0.0.1:1")
	edge, err := StartEdge(Config{Primary: primaryURL, NATS: []string{natsURL}, MaxLag: time.Second, ReadWait: time.Second,
		MaxBytes: 1 << 20, MaxTTL: time.Minute, Cached: map[string]bool{}}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(edge.Close)
	for i := range 5 {
		versions.RecordWritten("posts", "p"+strconv.Itoa(i))
	}
	testsupport.Eventually(t, "the edge serves", func() bool { return edge.Status().Serving && edge.Status().Applied == primary.Seq() })
	before, clock := edge.Status().Applied, edge.clock.Load()

	js, _ := jetstream.New(primary.conn)
	if err := js.DeleteStream(context.Background(), streamName); err != nil {
		t.Fatal(err)
	}
	versions.RecordWritten("posts", "p9") // lost: the primary creates the stream again and flushes
	testsupport.Eventually(t, "the edge follows the new stream", func() bool {
		status := edge.Status()
		return status.Serving && status.Applied < before && status.Applied == primary.Seq()
	})
	if edge.clock.Load() == clock {
		t.Fatal("the edge kept the clock numbered by the old stream")
	}
}

// Stream messages may arrive before the heartbeat sent before them: a
// heartbeat's sequence below the one applied is no new stream.
func TestALateHeartbeatIsNoNewStream(t *testing.T) {
	t.Parallel()
	e := &Edge{restart: make(chan struct{}, 1), signal: make(chan struct{}), logger: quiet}
	e.streamID.Store(42)
	e.applied.Store(10)
	e.serving.Store(true)
	heartbeat := func(data string) {
		e.onHeartbeat(&nats.Msg{Data: []byte(data)})
	}
	heartbeat(`{"seq": 7, "dirty": false, "stream": 42}`)
	select {
	case <-e.restart:
		t.Fatal("a late heartbeat restarted the consumer")
	default:
	}
	if !e.serving.Load() || e.primarySeq.Load() != 7 {
		t.Fatalf("serving %v, primary's sequence %d", e.serving.Load(), e.primarySeq.Load())
	}
	heartbeat(`{"seq": 3, "dirty": false, "stream": 43}`)
	select {
	case <-e.restart:
	default:
		t.Fatal("a heartbeat of another stream did not restart the consumer")
	}
	if e.serving.Load() {
		t.Fatal("the edge still serves after hearing of another stream")
	}
}

// A client's OAuth2 state becomes a key of the bucket: a long one must not
// break the primary's connection (NATS closes a connection whose subject
// is too long, for good).
func TestALongLoginStateLeavesNATSConnected(t *testing.T) {
	t.Parallel()
	port := testsupport.FreePort(t)
	testsupport.NATS(t, port, t.TempDir())
	primary, err := StartPrimary(Config{NATS: []string{"nats://127.0.0.1:" + strconv.Itoa(port)}}, recordcache.NewVersions(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(primary.Close)
	states, err := primary.OAuth2States(time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("a", 5000) + " *.>"
	if _, ok := states.Take(long); ok {
		t.Fatal("a state never put was taken")
	}
	if err := states.Put(long, []byte("v")); err != nil {
		t.Fatal(err)
	}
	if value, ok := states.Take(long); !ok || string(value) != "v" {
		t.Fatalf("took %q, %v", value, ok)
	}
	if _, ok := states.Take(long); ok {
		t.Fatal("a state was taken twice")
	}
	time.Sleep(100 * time.Millisecond)
	if !primary.conn.IsConnected() {
		t.Fatal("the primary's NATS connection was closed")
	}
}

// A primary whose answer breaks off (it went away mid-answer) is a 503 for
// a load that concurrent misses share, not a partial answer, nor a panic
// outside the server's goroutine, which would end the process.
func TestAnAnswerBrokenOffIsA503NotACrash(t *testing.T) {
	t.Parallel()
	primary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "100000")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"items": [`))
		w.(http.Flusher).Flush()
		conn, _, _ := http.NewResponseController(w).Hijack()
		conn.Close()
	}))
	t.Cleanup(primary.Close)
	primaryURL, _ := url.Parse(primary.URL)
	e := &Edge{config: Config{Primary: primaryURL, MaxBytes: 1 << 20, MaxTTL: time.Minute}, logger: quiet, client: http.DefaultClient}
	e.reads = newEdgeReads(e)
	clock := new(recordcache.SeqClock)
	e.clock.Store(clock)
	req := httptest.NewRequest(http.MethodGet, "/api/collections/posts/records", nil)
	fetched := e.reads.fetch(req, planKey{path: req.URL.Path}, recordcache.Caller{Anonymous: true}, clock)
	if fetched.entry != nil || fetched.captured.status != http.StatusServiceUnavailable {
		t.Fatalf("an answer broken off: %+v", fetched.captured)
	}
}
