package hapta

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/postr-inc/hapta/internal/sse"
)

var (
	realtimeSeed  = flag.Uint64("realtime.seed", 1, "seed of TestRealtimeDifferential (0: from the clock)")
	realtimeSteps = flag.Int("realtime.steps", 120, "writes of TestRealtimeDifferential")
)

// TestRealtimeDifferential subscribes pairs of realtime connections with
// the same caller and the same subscriptions (random collections, records,
// filters, expands, fields, query and headers): one through hapta's router,
// served by hapta's fan-out, the other through PocketBase's own router,
// served by PocketBase's loop, on the same app. Then it makes the cache
// differential's random writes (creates, updates inside and outside
// transactions, deletes, users' flags, rule changes, PATCHes over HTTP)
// and password changes (which revoke a user's realtime auth),
// and checks that each pair received the same messages (names and bytes)
// after each write.
func TestRealtimeDifferential(t *testing.T) {
	t.Parallel()
	seed := *realtimeSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	w := newDifferentialWorld(t, seed)
	marks := core.NewBaseCollection("marks")
	marks.ListRule = types.Pointer("")
	marks.Fields.Add(&core.NumberField{Name: "step"})
	if err := w.app.Save(marks); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: -1}}
	var pairs []*realtimePair
	for i := range 30 {
		pairs = append(pairs, w.newRealtimePair(t, client, i))
	}
	// a last marker without a write, for PocketBase's late messages of the
	// last write (see lateMessagesBack)
	for step := range *realtimeSteps + 1 {
		w.step = step
		if step < *realtimeSteps {
			if w.rng.IntN(50) == 0 {
				w.changePassword()
			} else {
				w.write()
			}
		}
		mark := core.NewRecord(marks)
		mark.Set("step", step)
		if err := w.app.Save(mark); err != nil {
			t.Fatal(err)
		}
		for _, p := range pairs {
			p.ours.until(t, step)
			p.theirs.until(t, step)
		}
	}
	total := 0
	for _, p := range pairs {
		for step := range *realtimeSteps {
			ours, theirs := p.ours.epochs[step], p.theirs.lateMessagesBack(step, p.ours.epochs[step])
			slices.Sort(ours)
			slices.Sort(theirs)
			if !slices.Equal(ours, theirs) {
				var after []string
				if step+1 < len(p.theirs.epochs) {
					after = p.theirs.epochs[step+1]
				}
				t.Fatalf("seed %d, step %d, %s subscribed to %q:\nhapta sent      %q\nPocketBase sent %q\n(and after it %q)\nhistory:\n%s",
					seed, step, p.caller.name, p.subscriptions, ours, theirs, after, strings.Join(w.history, "\n"))
			}
			total += len(ours)
		}
	}
	t.Logf("seed %d: %d writes, %d messages compared over %d pairs", seed, *realtimeSteps, total, len(pairs))
	if total < *realtimeSteps {
		t.Fatalf("only %d messages: the test no longer exercises the fan-out", total)
	}
}

// changePassword gives a user a new password: its token key changes, and
// PocketBase turns its realtime connections into guests'.
func (w *differentialWorld) changePassword() {
	user := w.users[w.rng.IntN(len(w.users))]
	user.SetPassword(fmt.Sprintf("new-password-%d", w.step))
	if err := w.app.Save(user); err != nil {
		w.t.Fatal(err)
	}
	w.log("changed the password of %s", user.Email())
}

type realtimePair struct {
	caller        differentialCaller
	subscriptions []string
	ours, theirs  *realtimeLog
}

// realtimeLog is a stream's record messages, by the step of the marker
// that follows them.
type realtimeLog struct {
	stream *sse.Stream
	epochs [][]string
	next   []string
}

// until reads the stream up to the marker of step.
func (l *realtimeLog) until(t *testing.T, step int) {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for len(l.epochs) <= step {
		select {
		case event, ok := <-l.stream.Events:
			if !ok {
				t.Fatal("a realtime stream ended")
			}
			if event.Name != "marks/*" {
				l.next = append(l.next, event.Name+" "+comparedBody(event))
				continue
			}
			var mark struct{ Record struct{ Step int } }
			if err := json.Unmarshal([]byte(event.Data), &mark); err != nil || mark.Record.Step != len(l.epochs) {
				t.Fatalf("marker %s out of order at step %d", event.Data, len(l.epochs))
			}
			l.epochs, l.next = append(l.epochs, l.next), nil
		case <-timeout:
			t.Fatalf("no marker for step %d within 15s", step)
		}
	}
}

// comparedBody is a message's body as the test compares it: its bytes, but
// for a subscription with `fields`, whose body PocketBase encodes from a
// map in random key order: then its JSON with sorted keys.
func comparedBody(event sse.Event) string {
	if !strings.Contains(event.Name, url.QueryEscape(`"fields"`)) {
		return event.Data
	}
	var decoded any
	if err := json.Unmarshal([]byte(event.Data), &decoded); err != nil {
		return event.Data
	}
	sorted, _ := json.Marshal(decoded) // encoding/json sorts map keys
	return string(sorted)
}

// lateMessagesBack is the messages of step. PocketBase sends each message
// from a goroutine of its own (a delete's too, after the commit), so one
// can arrive after the marker that follows it: a message expected at step
// and found in the next step instead is moved back.
func (l *realtimeLog) lateMessagesBack(step int, expected []string) []string {
	if step+1 >= len(l.epochs) {
		return l.epochs[step]
	}
	for _, m := range expected {
		if slices.Contains(l.epochs[step], m) {
			continue
		}
		if i := slices.Index(l.epochs[step+1], m); i >= 0 {
			l.epochs[step] = append(l.epochs[step], m)
			l.epochs[step+1] = slices.Delete(l.epochs[step+1], i, i+1)
		}
	}
	return l.epochs[step]
}

var realtimeFields = []string{"", "id,title", "id,expand.owner.email,expand.ref.title", "*", "id,collectionName,n"}

// newRealtimePair makes up a caller and its subscriptions and subscribes
// through both routers.
func (w *differentialWorld) newRealtimePair(t *testing.T, client *http.Client, n int) *realtimePair {
	p := &realtimePair{caller: w.callers[n%len(w.callers)], subscriptions: []string{"marks/*"}}
	for range 1 + w.rng.IntN(3) {
		i := w.rng.IntN(differentialCollections)
		name := fmt.Sprintf("c%d", i)
		if w.rng.IntN(2) == 0 { // by id, as the admin UI subscribes
			collection, _ := w.app.FindCachedCollectionByNameOrId(name)
			name = collection.Id
		}
		var topic string
		switch roll := w.rng.IntN(10); {
		case roll < 5:
			topic = name + "/*"
		case roll < 6:
			topic = name // deprecated, still served
		case roll < 8:
			topic = name + "/" + w.pick(w.live[fmt.Sprintf("c%d", i)])
		case roll < 9:
			topic = "users/*"
		default:
			topic = "users/" + w.users[w.rng.IntN(len(w.users))].Id
		}
		if w.rng.IntN(3) > 0 {
			query := map[string]string{}
			for _, param := range []struct {
				name    string
				choices []string
			}{{"filter", differentialFilters}, {"expand", differentialExpands}, {"fields", realtimeFields}} {
				if v := w.fill(w.pick(param.choices), i); v != "" && w.rng.IntN(2) == 0 {
					query[param.name] = v
				}
			}
			options := map[string]any{"query": query}
			if w.rng.IntN(3) == 0 {
				options["headers"] = map[string]string{"X-Token": strconv.Itoa(w.rng.IntN(2))}
			}
			encoded, _ := json.Marshal(options)
			topic += "?options=" + url.QueryEscape(string(encoded))
		}
		p.subscriptions = append(p.subscriptions, topic)
	}
	connect := func(base string) *realtimeLog {
		stream, err := sse.Connect(client, base, 1024)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stream.Close)
		if err := stream.Subscribe(p.caller.token, p.subscriptions...); err != nil {
			t.Fatal(err)
		}
		return &realtimeLog{stream: stream}
	}
	p.ours, p.theirs = connect(w.cached), connect(w.plain)
	return p
}
