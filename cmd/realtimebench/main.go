// Command realtimebench measures the realtime broadcast of record events
// of the built binary on loopback: N subscribers, each a distinct user with
// its own token and SSE connection, subscribed to `<collection>/*` of one
// collection per rule kind, then one create per kind. For each kind and N
// it reports the writer's request latency, the time until each subscriber
// that may see the record received it (p50, p99, max), the server's CPU
// time for the event, and the server's memory per subscriber.
//
// This first version measures PocketBase's own broadcaster (the baseline of
// issue 15); the users are written straight into the SQLite file with one
// bcrypt hash (hashing 10,000 passwords would take minutes) and signed in
// through the superuser impersonation endpoint.
//
//	go build -o pocketbase . && go run ./cmd/realtimebench -binary ./pocketbase -subscribers 1000,5000,10000
package main

import (
	"bufio"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "modernc.org/sqlite"

	"github.com/postr-inc/hapta/internal/benchserver"
)

// kinds are the rule kinds measured: one collection each, with the same
// list and view rule.
var kinds = []struct{ name, collection, rule string }{
	{"public", "rt_public", ""},
	{"public = true", "rt_flag", "public = true"},
	{"per-user", "rt_owner", "owner = @request.auth.id"},
	{"@collection join", "rt_join", "@collection.rt_members.user ?= @request.auth.id"},
}

func main() {
	binary := flag.String("binary", "./pocketbase", "the built Hapta binary")
	sizes := flag.String("subscribers", "1000,5000,10000", "the numbers of subscribers, comma-separated")
	write := flag.String("write", "", "a Markdown file whose realtimebench section gets the table")
	flag.Parse()
	raiseFileLimit()

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
	var rows []row
	for _, n := range counts {
		measured, err := measureAll(absolute, n)
		if err != nil {
			log.Fatalf("%d subscribers: %v", n, err)
		}
		rows = append(rows, measured...)
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
	cpu                   time.Duration
	rssPerSubscriber      float64 // bytes
}

// measureAll starts a server, makes n users subscribed to each kind's
// collection, and creates one record per kind.
func measureAll(binary string, n int) ([]row, error) {
	server, err := benchserver.Start(binary, map[string]any{
		"logLevel": "warn", "ADMIN_EMAIL": benchserver.AdminEmail, "ADMIN_PASSWORD": benchserver.AdminPassword,
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
		r, err := broadcastOnce(server, admin, kind.collection, users[0].id, subscribers)
		closeAll(subscribers)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", kind.name, err)
		}
		r.kind, r.subscribers, r.rssPerSubscriber = kind.name, n, rssPerSubscriber
		rows = append(rows, r)
	}
	return rows, nil
}

func createCollections(server *benchserver.Server, admin string) error {
	if err := server.Call("POST", "/api/collections", admin, map[string]any{
		"name": "rt_members", "type": "base", "listRule": "", "viewRule": "",
		"fields": []map[string]any{{"name": "user", "type": "relation", "collectionId": "_pb_users_auth_", "maxSelect": 1}},
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

// subscriber is one SSE connection and the events it received.
type subscriber struct {
	response *http.Response
	events   chan time.Time // when a record event arrived
}

var sseClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: -1, DisableCompression: true}}

// subscribeAll connects every user and subscribes it to collection/*.
func subscribeAll(base, collection string, users []user) ([]*subscriber, error) {
	subscribers := make([]*subscriber, len(users))
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for worker := range 32 {
		wg.Go(func() {
			for i := worker; i < len(users); i += 32 {
				s, err := subscribe(base, collection, users[i].token)
				if err != nil {
					errs <- err
					return
				}
				subscribers[i] = s
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		closeAll(subscribers)
		return nil, err
	}
	return subscribers, nil
}

func subscribe(base, collection, token string) (*subscriber, error) {
	response, err := sseClient.Get(base + "/api/realtime")
	if err != nil {
		return nil, err
	}
	s := &subscriber{response: response, events: make(chan time.Time, 4)}
	connected := make(chan string, 1)
	go func() {
		scanner := bufio.NewScanner(response.Body)
		var event, data string
		for scanner.Scan() {
			line := scanner.Text()
			switch {
			case strings.HasPrefix(line, "event:"):
				event = strings.TrimSpace(line[len("event:"):])
			case strings.HasPrefix(line, "data:"):
				data = strings.TrimSpace(line[len("data:"):])
			case line == "" && event == "PB_CONNECT":
				var client struct{ ClientID string }
				_ = json.Unmarshal([]byte(data), &client)
				connected <- client.ClientID
				event = ""
			case line == "" && event != "":
				select {
				case s.events <- time.Now():
				default:
				}
				event = ""
			}
		}
	}()
	var clientID string
	select {
	case clientID = <-connected:
	case <-time.After(30 * time.Second):
		response.Body.Close()
		return nil, errors.New("no PB_CONNECT within 30s")
	}
	body, _ := json.Marshal(map[string]any{"clientId": clientID, "subscriptions": []string{collection + "/*"}})
	req, _ := http.NewRequest("POST", base+"/api/realtime", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", token)
	res, err := sseClient.Do(req)
	if err != nil {
		response.Body.Close()
		return nil, err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		response.Body.Close()
		return nil, fmt.Errorf("subscribe: %d", res.StatusCode)
	}
	return s, nil
}

func closeAll(subscribers []*subscriber) {
	for _, s := range subscribers {
		if s != nil {
			s.response.Body.Close()
		}
	}
}

// broadcastOnce creates one record (public, owned by owner) and waits for
// the subscribers that may see it: all of them but for the per-user rule,
// where only the owner may.
func broadcastOnce(server *benchserver.Server, admin, collection, owner string, subscribers []*subscriber) (row, error) {
	cpuBefore := server.CPUTime()
	began := time.Now()
	if err := server.Call("POST", "/api/collections/"+collection+"/records", admin,
		map[string]any{"title": "event", "public": true, "owner": owner}, nil); err != nil {
		return row{}, err
	}
	writer := time.Since(began)
	expected := subscribers
	if collection == "rt_owner" {
		expected = subscribers[:1] // users[0] owns it
	}
	delays := make([]time.Duration, 0, len(expected))
	deadline := time.After(2 * time.Minute)
	for _, s := range expected {
		select {
		case at := <-s.events:
			delays = append(delays, at.Sub(began))
		case <-deadline:
			return row{}, fmt.Errorf("%d of %d subscribers received the event within 2 minutes", len(delays), len(expected))
		}
	}
	time.Sleep(200 * time.Millisecond) // the broadcast's checks of the others end too
	slices.Sort(delays)
	return row{
		expected: len(expected), writer: writer,
		p50: delays[len(delays)/2], p99: delays[len(delays)*99/100], last: delays[len(delays)-1],
		cpu: server.CPUTime() - cpuBefore,
	}, nil
}

func format(rows []row) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Measured on %s: PocketBase's broadcaster in the built binary, one create per rule kind, every subscriber a distinct signed-in user subscribed to `<collection>/*`.\n\n", time.Now().Format("2006-01-02"))
	b.WriteString("| subscribers | rule | receivers | writer's request | to receivers p50 / p99 / last | server CPU for the event | server RSS per subscriber |\n|---|---|---|---|---|---|---|\n")
	round := func(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }
	for _, r := range rows {
		fmt.Fprintf(&b, "| %d | %s | %d | %v | %v / %v / %v | %v | %.1f KiB |\n", r.subscribers, r.kind, r.expected, round(r.writer),
			round(r.p50), round(r.p99), round(r.last), round(r.cpu), r.rssPerSubscriber/1024)
	}
	return b.String()
}
