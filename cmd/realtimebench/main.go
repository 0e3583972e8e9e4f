// Command realtimebench measures the realtime broadcast of record events
// of the built binary on loopback: N subscribers, each a distinct user with
// its own token and SSE connection, subscribed to `<collection>/*` of one
// collection per rule kind, then one create per kind. For each kind and N
// it reports the writer's request latency, the time until each subscriber
// that may see the record received it (p50, p99, max), the server's CPU
// time per event (the mean: the garbage collector's cycles, which come
// every few events, belong to them all), the collector's cycles, and the
// server's memory per subscriber.
//
// Each measurement runs twice, on servers of the same binary: with
// PocketBase's own broadcaster (`"realtime": {"fanout": "pocketbase"}`)
// and with hapta's grouped fan-out (the default). The users are written
// straight into the SQLite file with one bcrypt hash (hashing 10,000
// passwords would take minutes) and signed in through the superuser
// impersonation endpoint.
//
//	go build -o pocketbase . && go run ./cmd/realtimebench -binary ./pocketbase -subscribers 1000,5000,10000
package main

import (
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "modernc.org/sqlite"

	"github.com/postr-inc/hapta/internal/benchserver"
	"github.com/postr-inc/hapta/internal/sse"
)

type kind struct{ name, collection, rule string }

// kinds are the rule kinds measured: one collection each, with the same
// list and view rule.
var kinds = []kind{
	{"public", "rt_public", ""},
	{"public = true", "rt_flag", "public = true"},
	{"per-user", "rt_owner", "owner = @request.auth.id"},
	{"@collection join", "rt_join", "@collection.rt_members.user ?= @request.auth.id"},
}

func main() {
	binary := flag.String("binary", "./pocketbase", "the built Hapta binary")
	sizes := flag.String("subscribers", "1000,5000,10000", "the numbers of subscribers, comma-separated")
	write := flag.String("write", "", "a Markdown file whose realtimebench section gets the table")
	only := flag.String("only", "", "measure one fan-out alone (pocketbase or grouped), for a profile; prints its rows")
	rules := flag.String("rules", "", "measure these rule kinds only (comma-separated collection names, as rt_public), for a profile")
	post := flag.String("post", "", "(internal) POST -body with -token to this URL, print when it began and how long it took")
	token := flag.String("token", "", "(internal) the -post's Authorization")
	body := flag.String("body", "", "(internal) the -post's JSON body")
	flag.Parse()
	if *post != "" {
		if err := postOnce(*post, *token, *body); err != nil {
			log.Fatal(err)
		}
		return
	}
	raiseFileLimit()
	if *rules != "" {
		wanted := strings.Split(*rules, ",")
		kinds = slices.DeleteFunc(kinds, func(k kind) bool { return !slices.Contains(wanted, k.collection) })
		if len(kinds) == 0 {
			log.Fatalf("-rules: none of %q is a measured collection", *rules)
		}
	}

	var counts []int
	for _, text := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(text))
		if err != nil || n <= 0 {
			log.Fatalf("-subscribers: %q is not a positive number", text)
		}
		counts = append(counts, n)
	}
	absolute, err := filepath.Abs(*binary)
	if err != nil {
		log.Fatal(err)
	}
	if *only != "" {
		for _, n := range counts {
			measured, err := measureAll(absolute, n, *only)
			if err != nil {
				log.Fatal(err)
			}
			for _, r := range measured {
				fmt.Printf("%+v\n", r)
			}
		}
		return
	}
	var rows [][2]row // PocketBase's, hapta's
	for _, n := range counts {
		var both [2][]row
		for i, fanout := range []string{"pocketbase", "grouped"} {
			measured, err := measureAll(absolute, n, fanout)
			if err != nil {
				log.Fatalf("%d subscribers, fan-out %s: %v", n, fanout, err)
			}
			both[i] = measured
		}
		for i := range both[0] {
			rows = append(rows, [2]row{both[0][i], both[1][i]})
		}
	}
	if err := benchserver.Publish(*write, "realtimebench", format(rows)); err != nil {
		log.Fatal(err)
	}
}

// raiseFileLimit lets this process hold every subscriber's connection (the
// server it starts inherits the limit).
func raiseFileLimit() {
	var limit syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &limit) == nil {
		limit.Cur = limit.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &limit)
	}
}

// row is one kind's measurement at one number of subscribers.
type row struct {
	kind                  string
	subscribers, expected int
	writer                time.Duration
	p50, p99, last        time.Duration
	cpu                   time.Duration  // the median event's
	meanCPU               time.Duration  // all the events' over their number
	gc                    benchserver.GC // the collector's cycles during the events
	rssPerSubscriber      float64        // bytes
}

// measureAll starts a server with the fan-out, makes n users subscribed
// to each kind's collection, and creates one record per kind.
func measureAll(binary string, n int, fanout string) ([]row, error) {
	server, err := benchserver.Start(binary, map[string]any{
		"logLevel": "warn", "ADMIN_EMAIL": benchserver.AdminEmail, "ADMIN_PASSWORD": benchserver.AdminPassword,
		"realtime": map[string]any{"fanout": fanout},
	}, 64)
	if err != nil {
		return nil, err
	}
	defer server.Stop()
	admin, err := server.SuperuserToken(benchserver.AdminEmail, benchserver.AdminPassword)
	if err != nil {
		return nil, err
	}
	if err := createCollections(server, admin); err != nil {
		return nil, err
	}
	users, err := createUsers(server, admin, n)
	if err != nil {
		return nil, err
	}
	for _, user := range users { // every subscriber is a member, for the join
		if err := server.Call("POST", "/api/collections/rt_members/records", admin, map[string]any{"user": user.id}, nil); err != nil {
			return nil, err
		}
	}
	rssBefore := server.RSS()
	rssPerSubscriber := 0.0 // from the first kind's connections: Go keeps freed memory a while
	var rows []row
	for i, kind := range kinds {
		subscribers, err := subscribeAll(server.Base, kind.collection, users)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", kind.name, err)
		}
		if i == 0 {
			rssPerSubscriber = float64(server.RSS()-rssBefore) / float64(n)
		}
		server.WaitIdle() // the subscriptions settled, the setup's GC done
		gcBefore := server.GC()
		var each []row
		for range eventsPerKind {
			r, err := broadcastOnce(server, admin, kind.collection, users[0].id, subscribers)
			if err != nil {
				closeAll(subscribers)
				return nil, fmt.Errorf("%s: %w", kind.name, err)
			}
			each = append(each, r)
		}
		gc := server.GC() // broadcastOnce waited for a quiet server: a cycle an event began has ended
		closeAll(subscribers)
		time.Sleep(2 * time.Second) // and their end
		r := summarize(each)
		r.kind, r.subscribers, r.rssPerSubscriber = kind.name, n, rssPerSubscriber
		r.gc = benchserver.GC{Cycles: gc.Cycles - gcBefore.Cycles, CPU: gc.CPU - gcBefore.CPU}
		rows = append(rows, r)
	}
	return rows, nil
}

// eventsPerKind are the creates measured per kind.
const eventsPerKind = 15

// summarize is the row of a kind's events: the median of each figure, but
// the mean of the CPU times: the collector's cycles come every few events,
// as their allocations add up, and belong to the cost of them all, which a
// median leaves out.
func summarize(each []row) row {
	median := func(field func(row) time.Duration) time.Duration {
		values := make([]time.Duration, len(each))
		for i, r := range each {
			values[i] = field(r)
		}
		slices.Sort(values)
		return values[len(values)/2]
	}
	var total time.Duration
	for _, r := range each {
		total += r.cpu
	}
	return row{
		expected: each[0].expected,
		meanCPU:  total / time.Duration(len(each)),
		writer:   median(func(r row) time.Duration { return r.writer }),
		p50:      median(func(r row) time.Duration { return r.p50 }),
		p99:      median(func(r row) time.Duration { return r.p99 }),
		last:     median(func(r row) time.Duration { return r.last }),
		cpu:      median(func(r row) time.Duration { return r.cpu }),
	}
}

func createCollections(server *benchserver.Server, admin string) error {
	if err := server.Call("POST", "/api/collections", admin, map[string]any{
		"name": "rt_members", "type": "base", "listRule": "", "viewRule": "",
		"fields":  []map[string]any{{"name": "user", "type": "relation", "collectionId": "_pb_users_auth_", "maxSelect": 1}},
		"indexes": []string{"CREATE INDEX idx_rt_members_user ON rt_members (user)"},
	}, nil); err != nil {
		return err
	}
	for _, kind := range kinds {
		if err := server.Call("POST", "/api/collections", admin, map[string]any{
			"name": kind.collection, "type": "base", "listRule": kind.rule, "viewRule": kind.rule,
			"fields": []map[string]any{
				{"name": "title", "type": "text"},
				{"name": "public", "type": "bool"},
				{"name": "owner", "type": "relation", "collectionId": "_pb_users_auth_", "maxSelect": 1},
			},
		}, nil); err != nil {
			return err
		}
	}
	return nil
}

type user struct{ id, token string }

// createUsers writes n users into the SQLite file with the password hash
// of one user made through the API, then signs each in by impersonation.
func createUsers(server *benchserver.Server, admin string, n int) ([]user, error) {
	var seed struct{ ID string }
	if err := server.Call("POST", "/api/collections/users/records", "", map[string]any{
		"email": "seed@example.com", "password": "password-123", "passwordConfirm": "password-123",
	}, &seed); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", filepath.Join(server.DataDir(), "data.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var hash string
	if err := db.QueryRow(`SELECT password FROM users WHERE id = ?`, seed.ID).Scan(&hash); err != nil {
		return nil, err
	}
	tx, err := db.Begin()
	if err != nil {
		return nil, err
	}
	users := make([]user, n)
	now := time.Now().UTC().Format("2006-01-02 15:04:05.000Z")
	for i := range users {
		users[i].id = "rt" + strings.ToLower(rand.Text())[:13]
		if _, err := tx.Exec(`INSERT INTO users (id, email, emailVisibility, verified, password, tokenKey, name, avatar, created, updated)
			VALUES (?, ?, 0, 1, ?, ?, '', '', ?, ?)`, users[i].id, fmt.Sprintf("rt%d@example.com", i), hash, rand.Text()+rand.Text(), now, now); err != nil {
			tx.Rollback()
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for worker := range 16 {
		wg.Go(func() {
			for i := worker; i < n; i += 16 {
				var auth struct{ Token string }
				if err := server.Call("POST", "/api/collections/users/impersonate/"+users[i].id, admin, map[string]any{"duration": 7200}, &auth); err != nil {
					errs <- err
					return
				}
				users[i].token = auth.Token
			}
		})
	}
	wg.Wait()
	close(errs)
	return users, <-errs
}

var sseClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: -1, DisableCompression: true}}

// subscribeAll connects every user and subscribes it to collection/*.
func subscribeAll(base, collection string, users []user) ([]*sse.Stream, error) {
	streams := make([]*sse.Stream, len(users))
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for worker := range 32 {
		wg.Go(func() {
			for i := worker; i < len(users); i += 32 {
				stream, err := sse.Connect(sseClient, base, 4)
				if err == nil {
					err = stream.Subscribe(users[i].token, collection+"/*")
					streams[i] = stream
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		closeAll(streams)
		return nil, err
	}
	return streams, nil
}

func closeAll(streams []*sse.Stream) {
	for _, s := range streams {
		if s != nil {
			s.Close()
		}
	}
}

// broadcastOnce creates one record (public, owned by owner) and waits for
// the subscribers that may see it: all of them but for the per-user rule,
// where only the owner may.
func broadcastOnce(server *benchserver.Server, admin, collection, owner string, subscribers []*sse.Stream) (row, error) {
	// from a quiet server (the setup's and the last event's work, a GC
	// cycle among them, done) until it is quiet again: all the CPU the
	// event caused, its GC included
	server.WaitIdle()
	cpuBefore := server.CPUTime()
	body, _ := json.Marshal(map[string]any{"title": "event", "public": true, "owner": owner})
	// the write from a process of its own: in this one, the subscribers'
	// goroutines wake all at once and would delay the writer's
	out, err := exec.Command(os.Args[0], "-post", server.Base+"/api/collections/"+collection+"/records",
		"-token", admin, "-body", string(body)).Output()
	if err != nil {
		return row{}, fmt.Errorf("the write: %w", err)
	}
	var beganNanos, writerNanos int64
	if _, err := fmt.Sscan(string(out), &beganNanos, &writerNanos); err != nil {
		return row{}, fmt.Errorf("the write's output %q: %w", out, err)
	}
	began, writer := time.Unix(0, beganNanos), time.Duration(writerNanos)
	expected := subscribers
	if collection == "rt_owner" {
		expected = subscribers[:1] // users[0] owns it
	}
	delays := make([]time.Duration, 0, len(expected))
	deadline := time.After(2 * time.Minute)
	for _, s := range expected {
		select {
		case event, ok := <-s.Events:
			if !ok {
				return row{}, errors.New("a subscriber's stream ended")
			}
			delays = append(delays, event.At.Sub(began))
		case <-deadline:
			return row{}, fmt.Errorf("%d of %d subscribers received the event within 2 minutes", len(delays), len(expected))
		}
	}
	server.WaitIdle() // the broadcast's checks of the others end too
	slices.Sort(delays)
	return row{
		expected: len(expected), writer: writer,
		p50: delays[len(delays)/2], p99: delays[len(delays)*99/100], last: delays[len(delays)-1],
		cpu: server.CPUTime() - cpuBefore,
	}, nil
}

// postOnce sends one POST and prints when it began (Unix nanoseconds) and
// how long it took (nanoseconds).
func postOnce(url, token, body string) error {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", token)
	began := time.Now()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	answer, _ := io.ReadAll(res.Body)
	took := time.Since(began)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %d %s", url, res.StatusCode, answer)
	}
	fmt.Println(began.UnixNano(), took.Nanoseconds())
	return nil
}

func format(rows [][2]row) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Measured on %s, the same binary with PocketBase's broadcaster (PB) and with hapta's grouped fan-out (hapta), every subscriber a distinct signed-in user subscribed to `<collection>/*` (`rt_members.user` indexed for the join); %d creates per rule kind, the write sent from a process of its own; the server's CPU per event is the mean over them (from a quiet server to a quiet server, the garbage collector's cycles among them, whose number and CPU are given), every other figure the median.\n\n", time.Now().Format("2006-01-02"), eventsPerKind)
	b.WriteString("| subscribers | rule | receivers | writer's request PB / hapta | to receivers p50 / p99 / last, PB | same, hapta | server CPU per event PB / hapta (ratio) | ratio of the median events | GC cycles (their CPU) PB / hapta | RSS per subscriber PB / hapta |\n|---|---|---|---|---|---|---|---|---|---|\n")
	round := func(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }
	for _, pair := range rows {
		pb, ours := pair[0], pair[1]
		fmt.Fprintf(&b, "| %d | %s | %d | %v / %v | %v / %v / %v | %v / %v / %v | %v / %v (**%.2fx**) | %.2fx | %d (%v) / %d (%v) | %.1f / %.1f KiB |\n",
			pb.subscribers, pb.kind, pb.expected, round(pb.writer), round(ours.writer),
			round(pb.p50), round(pb.p99), round(pb.last), round(ours.p50), round(ours.p99), round(ours.last),
			round(pb.meanCPU), round(ours.meanCPU), float64(ours.meanCPU)/float64(pb.meanCPU), float64(ours.cpu)/float64(pb.cpu),
			pb.gc.Cycles, round(pb.gc.CPU), ours.gc.Cycles, round(ours.gc.CPU),
			pb.rssPerSubscriber/1024, ours.rssPerSubscriber/1024)
	}
	return b.String()
}
