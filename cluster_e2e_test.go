package main

// End-to-end tests of a cluster: a primary and two edges, each a process of
// the built binary, on loopback, kept coherent over NATS JetStream.

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/postr-inc/hapta/internal/sse"
	"github.com/postr-inc/hapta/internal/testsupport"
)

const clusterAdmin = "cluster-admin@example.com"

// clusterNode is one node: its process, working directory and URL.
type clusterNode struct {
	*run
	dir, url string
	args     []string
}

// startClusterNode runs a node whose hapta-config.json is config (with
// port), not in dev mode.
func startClusterNode(t *testing.T, port int, config map[string]any) *clusterNode {
	t.Helper()
	config["port"] = port
	config["logLevel"] = "warn"
	data, _ := json.Marshal(config)
	n := &clusterNode{dir: workDir(t, string(data)), url: baseURL(port), args: []string{"serve", "--dev=false"}}
	n.run = start(t, n.dir, nil, n.args...)
	n.waitHealthy(t, n.url)
	return n
}

// restart runs the node again in its directory, after it stopped.
func (n *clusterNode) restart(t *testing.T) {
	t.Helper()
	n.run = start(t, n.dir, nil, n.args...)
	n.waitHealthy(t, n.url)
}

// kill ends the node at once, as a crash does.
func (n *clusterNode) kill() {
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.exited
}

type testCluster struct {
	primary, edge1, edge2 *clusterNode
	nodes                 []*clusterNode
	admin                 string // a superuser's token
}

// cachedCollections are the collections every node caches.
var cachedCollections = map[string]any{"collections": map[string]any{"posts": map[string]any{"http": true}, "notes": map[string]any{"http": true}}}

// startCluster starts a primary and two edges: with NATS embedded in the
// primary when natsURL is "", else on that NATS server.
func startCluster(t *testing.T, natsURL string) *testCluster {
	t.Helper()
	primaryCluster := map[string]any{"role": "primary", "nats": []string{natsURL}}
	if natsURL == "" {
		natsURL = baseURL(testsupport.FreePort(t))
		natsURL = "nats" + strings.TrimPrefix(natsURL, "http")
		primaryCluster = map[string]any{"nats": "embedded", "natsListen": strings.TrimPrefix(natsURL, "nats://")}
	}
	c := &testCluster{}
	c.primary = startClusterNode(t, testsupport.FreePort(t), map[string]any{
		"ADMIN_EMAIL": clusterAdmin, "ADMIN_PASSWORD": adminPassword, "cache": cachedCollections, "cluster": primaryCluster,
	})
	edge := func() *clusterNode {
		return startClusterNode(t, testsupport.FreePort(t), map[string]any{"cache": cachedCollections, "cluster": map[string]any{
			"role": "edge", "primary": c.primary.url, "nats": natsURL, "maxLag": "1s",
		}})
	}
	c.edge1, c.edge2 = edge(), edge()
	c.nodes = []*clusterNode{c.primary, c.edge1, c.edge2}
	c.admin = login(t, c.primary.url, "_superusers", clusterAdmin, adminPassword)
	c.edge1.waitServing(t, true)
	c.edge2.waitServing(t, true)
	return c
}

// login signs in with a password through url and returns the token.
func login(t *testing.T, url, collection, email, password string) string {
	t.Helper()
	res := testsupport.CallJSON(t, "POST", url+"/api/collections/"+collection+"/auth-with-password",
		fmt.Sprintf(`{"identity": %q, "password": %q}`, email, password))
	token, _ := res.Body["token"].(string)
	if res.Status != 200 || token == "" {
		t.Fatalf("login of %s through %s: %d %s", email, url, res.Status, res.Raw)
	}
	return token
}

// clusterStatus is the cluster part of a node's /api/health.
func (n *clusterNode) clusterStatus(t *testing.T) map[string]any {
	t.Helper()
	res := testsupport.CallJSON(t, "GET", n.url+"/api/health", "")
	status, _ := res.Object("data")["cluster"].(map[string]any)
	if res.Status != 200 || status == nil {
		t.Fatalf("health of %s: %d %s", n.url, res.Status, res.Raw)
	}
	return status
}

// waitServing waits until an edge says it answers from its cache (or, for
// false, that it forwards everything).
func (n *clusterNode) waitServing(t *testing.T, serving bool) {
	t.Helper()
	testsupport.Eventually(t, fmt.Sprintf("%s says serving is %v", n.url, serving), func() bool {
		return n.clusterStatus(t)["serving"] == serving
	})
}

// createRecord creates a record through url as token and returns its id.
func createRecord(t *testing.T, url, token, collection, body string) string {
	t.Helper()
	res := testsupport.CallJSON(t, "POST", url+"/api/collections/"+collection+"/records", body, "Authorization", token)
	id, _ := res.Body["id"].(string)
	if res.Status != 200 || id == "" {
		t.Fatalf("create %s through %s: %d %s", collection, url, res.Status, res.Raw)
	}
	return id
}

// createUser creates a user through url and returns its id and token.
func createUser(t *testing.T, url, email string) (id, token string) {
	t.Helper()
	id = createRecord(t, url, "", "users", fmt.Sprintf(`{"email": %q, "password": "password-123", "passwordConfirm": "password-123"}`, email))
	return id, login(t, url, "users", email, "password-123")
}

// read GETs path through a node as token, with a sequence to wait for ("" for none).
func read(t *testing.T, url, path, token, seq string) testsupport.Answer {
	t.Helper()
	return testsupport.CallJSON(t, "GET", url+path, "", "Authorization", token, "X-Hapta-Seq", seq)
}

// readCached reads path through an edge until its cache answers (a busy
// machine may hold an edge back from its cache for a moment: it forwards
// then), and returns that answer.
func readCached(t *testing.T, url, path, token string) testsupport.Answer {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		res := read(t, url, path, token, "")
		if res.Header.Get("X-Hapta-Cache") == "HIT" {
			return res
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%s is not answered from the cache: %d %v", url, path, res.Status, res.Header)
		}
	}
}

func titles(t *testing.T, list testsupport.Answer) []string {
	t.Helper()
	items, _ := list.Body["items"].([]any)
	if list.Status != 200 {
		t.Fatalf("list: %d %s", list.Status, list.Raw)
	}
	var titles []string
	for _, item := range items {
		title, _ := item.(map[string]any)["title"].(string)
		if title == "" {
			title, _ = item.(map[string]any)["text"].(string)
		}
		titles = append(titles, title)
	}
	slices.Sort(titles)
	return titles
}

func TestClusterWritesAreReadFreshOnEveryNode(t *testing.T) {
	t.Parallel()
	c := startCluster(t, "")
	author, _ := createUser(t, c.edge1.url, "author@example.com")
	post := createRecord(t, c.edge2.url, c.admin, "posts", fmt.Sprintf(`{"title": "version 0", "author": %q}`, author))
	view, list := "/api/collections/posts/records/"+post, "/api/collections/posts/records?perPage=50"

	var lags []time.Duration
	for i := 1; i <= 30; i++ {
		// both edges hold the view and the list: a missed invalidation
		// would serve them stale below
		for _, edge := range []*clusterNode{c.edge1, c.edge2} {
			for _, path := range []string{view, list} {
				readCached(t, edge.url, path, "")
			}
		}
		writer := c.nodes[i%3]
		title := "version " + strconv.Itoa(i)
		res := testsupport.CallJSON(t, "PATCH", writer.url+view, fmt.Sprintf(`{"title": %q}`, title), "Authorization", c.admin)
		written := time.Now()
		seq := res.Header.Get("X-Hapta-Seq")
		if res.Status != 200 || seq == "" {
			t.Fatalf("update through %s: %d %v %s", writer.url, res.Status, res.Header, res.Raw)
		}
		// without the sequence, each edge is fresh within a bounded lag
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, edge := range []*clusterNode{c.edge1, c.edge2} {
			wg.Go(func() {
				for time.Since(written) < 2*time.Second {
					if read(t, edge.url, view, "", "").Body["title"] == title {
						mu.Lock()
						lags = append(lags, time.Since(written))
						mu.Unlock()
						return
					}
				}
				t.Errorf("%s still answers a stale view 2s after the write", edge.url)
			})
		}
		wg.Wait()
		// with it, every node is fresh at once
		for _, reader := range c.nodes {
			if got := read(t, reader.url, view, "", seq).Body["title"]; got != title {
				t.Fatalf("write %d through %s, view through %s with its sequence: %v", i, writer.url, reader.url, got)
			}
			if got := titles(t, read(t, reader.url, list, "", seq)); !slices.Equal(got, []string{title}) {
				t.Fatalf("write %d through %s, list through %s with its sequence: %v", i, writer.url, reader.url, got)
			}
		}
	}
	slices.Sort(lags)
	t.Logf("invalidation lag of an edge after the write's answer, %d samples: p50 %v, p99 %v, max %v",
		len(lags), lags[len(lags)/2], lags[len(lags)*99/100], lags[len(lags)-1])

	// each node's statistics say its part
	var primaryStats struct {
		Cluster struct {
			Role      string
			Seq       uint64
			Published uint64
		}
	}
	read(t, c.primary.url, "/api/hapta/cache/stats", c.admin, "").Decode(t, &primaryStats)
	if primaryStats.Cluster.Role != "primary" || primaryStats.Cluster.Published < 30 || primaryStats.Cluster.Seq == 0 {
		t.Fatalf("the primary's statistics: %+v", primaryStats)
	}
	var edgeStats struct {
		Role                   string
		Hits, StreamEvents     uint64
		Misses, IdentityChecks uint64
	}
	read(t, c.edge1.url, "/api/hapta/cache/stats", c.admin, "").Decode(t, &edgeStats)
	if edgeStats.Role != "edge" || edgeStats.Hits < 60 || edgeStats.StreamEvents < 30 || edgeStats.IdentityChecks == 0 {
		t.Fatalf("an edge's statistics: %+v", edgeStats)
	}
	if res := read(t, c.edge1.url, "/api/hapta/cache/stats", "", ""); res.Status != 401 {
		t.Fatalf("an edge's statistics without a token: %d", res.Status)
	}
}

// createNotes creates the notes collection: each user reads only their own.
func createNotes(t *testing.T, c *testCluster) {
	t.Helper()
	const rule = `@request.auth.id != "" && owner = @request.auth.id`
	res := testsupport.CallJSON(t, "POST", c.primary.url+"/api/collections", fmt.Sprintf(`{"name": "notes", "type": "base",
		"listRule": %q, "viewRule": %q, "createRule": %q,
		"fields": [{"name": "owner", "type": "relation", "collectionId": "_pb_users_auth_", "maxSelect": 1}, {"name": "text", "type": "text"}]}`,
		rule, rule, rule), "Authorization", c.admin)
	if res.Status != 200 {
		t.Fatalf("create notes: %d %s", res.Status, res.Raw)
	}
}

func TestClusterPerUserAnswersNeverCrossUsersThroughAnEdge(t *testing.T) {
	t.Parallel()
	c := startCluster(t, "")
	createNotes(t, c)
	const list = "/api/collections/notes/records?sort=text"
	ann, annToken := createUser(t, c.edge1.url, "ann@example.com")
	bob, bobToken := createUser(t, c.edge2.url, "bob@example.com")
	for _, note := range []struct{ owner, token, text string }{{ann, annToken, "ann 1"}, {ann, annToken, "ann 2"}, {bob, bobToken, "bob 1"}} {
		createRecord(t, c.edge1.url, note.token, "notes", fmt.Sprintf(`{"owner": %q, "text": %q}`, note.owner, note.text))
	}
	want := map[string][]string{annToken: {"ann 1", "ann 2"}, bobToken: {"bob 1"}, "": nil}
	for round := range 3 {
		for _, edge := range []*clusterNode{c.edge1, c.edge2} {
			for _, token := range []string{annToken, bobToken, ""} { // interleaved: a shared entry would cross
				res := read(t, edge.url, list, token, "")
				if round > 0 {
					res = readCached(t, edge.url, list, token)
				}
				if got := titles(t, res); !slices.Equal(got, want[token]) {
					t.Fatalf("round %d through %s: %v, want %v", round, edge.url, got, want[token])
				}
			}
		}
	}
	// a second superuser reads every note, from the cache the second time
	createRecord(t, c.primary.url, c.admin, "_superusers", `{"email": "root2@example.com", "password": "password-123", "passwordConfirm": "password-123"}`)
	root2 := login(t, c.edge2.url, "_superusers", "root2@example.com", "password-123")
	for _, edge := range []*clusterNode{c.edge1, c.edge2} {
		if got := titles(t, readCached(t, edge.url, list, root2)); !slices.Equal(got, []string{"ann 1", "ann 2", "bob 1"}) {
			t.Fatalf("a superuser through %s: %v", edge.url, got)
		}
	}

	// a new password and a deleted user stop their tokens at once on
	// every edge, though each edge had them verified
	res := testsupport.CallJSON(t, "PATCH", c.edge2.url+"/api/collections/users/records/"+ann,
		`{"oldPassword": "password-123", "password": "password-456", "passwordConfirm": "password-456"}`, "Authorization", annToken)
	if res.Status != 200 {
		t.Fatalf("new password: %d %s", res.Status, res.Raw)
	}
	seq := res.Header.Get("X-Hapta-Seq")
	res = testsupport.CallJSON(t, "DELETE", c.edge1.url+"/api/collections/users/records/"+bob, "", "Authorization", c.admin)
	if res.Status != 204 {
		t.Fatalf("delete bob: %d %s", res.Status, res.Raw)
	}
	seq = laterSeq(seq, res.Header.Get("X-Hapta-Seq"))
	var root2ID struct{ Items []struct{ ID string } }
	read(t, c.primary.url, `/api/collections/_superusers/records?filter=email="root2@example.com"`, c.admin, "").Decode(t, &root2ID)
	res = testsupport.CallJSON(t, "DELETE", c.primary.url+"/api/collections/_superusers/records/"+root2ID.Items[0].ID, "", "Authorization", c.admin)
	if res.Status != 204 {
		t.Fatalf("delete root2: %d %s", res.Status, res.Raw)
	}
	seq = laterSeq(seq, res.Header.Get("X-Hapta-Seq"))
	for _, edge := range []*clusterNode{c.edge1, c.edge2} {
		for _, token := range []string{annToken, bobToken, root2} {
			if got := titles(t, read(t, edge.url, list, token, seq)); len(got) != 0 {
				t.Fatalf("an old token through %s still reads %v", edge.url, got)
			}
		}
	}
}

// laterSeq is the later of two sequences.
func laterSeq(a, b string) string {
	x, _ := strconv.ParseUint(a, 10, 64)
	y, _ := strconv.ParseUint(b, 10, 64)
	return strconv.FormatUint(max(x, y), 10)
}

func TestClusterLockoutAndOAuth2LoginsSpanEdgesAndPrimaryRestarts(t *testing.T) {
	t.Parallel()
	c := startCluster(t, "")
	createUser(t, c.primary.url, "lena@example.com")

	// ten wrong passwords through one edge lock the account on the other
	for i := range 10 {
		res := testsupport.CallJSON(t, "POST", c.edge1.url+"/api/collections/users/auth-with-password", `{"identity": "lena@example.com", "password": "wrong-password"}`)
		if res.Status != 400 {
			t.Fatalf("failure %d: %d %s", i+1, res.Status, res.Raw)
		}
	}
	res := testsupport.CallJSON(t, "POST", c.edge2.url+"/api/collections/users/auth-with-password", `{"identity": "lena@example.com", "password": "password-123"}`)
	if res.Status != 429 {
		t.Fatalf("the right password through the other edge: %d %s", res.Status, res.Raw)
	}
	// the counts are on NATS KV: a restart of the primary keeps the lockout
	c.primary.stop(t)
	c.primary.restart(t)
	res = testsupport.CallJSON(t, "POST", c.edge2.url+"/api/collections/users/auth-with-password", `{"identity": "lena@example.com", "password": "password-123"}`)
	if res.Status != 429 {
		t.Fatalf("the right password after the primary restarted: %d %s", res.Status, res.Raw)
	}

	// an OAuth2 login started through one edge completes through the other
	provider := testsupport.NewOAuth2Provider(t)
	res = testsupport.CallJSON(t, "PATCH", c.primary.url+"/api/collections/users", fmt.Sprintf(`{"oauth2": {"enabled": true, "providers": [
		{"name": "oidc", "clientId": "hapta-client", "clientSecret": "hapta-secret", "authURL": %q, "tokenURL": %q, "userInfoURL": %q}]}}`,
		provider.URL+"/authorize", provider.URL+"/token", provider.URL+"/userinfo"), "Authorization", c.admin)
	if res.Status != 200 {
		t.Fatalf("enable OAuth2: %d %s", res.Status, res.Raw)
	}
	const redirect = "http://localhost:5173/oauth-callback"
	started := testsupport.CallJSON(t, "POST", c.edge1.url+"/auth?type=oauth", `{"provider": "oidc", "redirectUrl": "`+redirect+`"}`)
	authURL, _ := started.Body["authUrl"].(string)
	if started.Status != 200 || authURL == "" {
		t.Fatalf("start through %s: %d %s", c.edge1.url, started.Status, started.Raw)
	}
	code, state := provider.Authorize(t, authURL)
	// the login state is on NATS KV too: it outlives a restart of the primary
	c.primary.stop(t)
	c.primary.restart(t)
	done := testsupport.CallJSON(t, "POST", c.edge2.url+"/auth?type=oauth",
		fmt.Sprintf(`{"provider": "oidc", "redirectUrl": %q, "code": %q, "state": %q}`, redirect, code, state))
	if done.Status != 200 || done.Object("principal")["email"] != "olga@example.com" {
		t.Fatalf("complete through %s: %d %s", c.edge2.url, done.Status, done.Raw)
	}
}

// clusterLoad writes and reads posts through the nodes it is given, and
// counts reads staler than the last write a reader knew of when it asked.
type clusterLoad struct {
	t      *testing.T
	admin  string
	posts  []string
	nodes  atomic.Pointer[[]string] // the URLs to use now
	client *http.Client

	mu     sync.Mutex
	latest map[string]written // by post

	reads, hits, stale, failed, writes atomic.Int64
	staleReads                         []string
}

// written is the last version of a post a write's answer confirmed, and
// that answer's sequence.
type written struct {
	version int
	seq     string
}

func newClusterLoad(t *testing.T, c *testCluster, posts int) *clusterLoad {
	author, _ := createUser(t, c.primary.url, "load@example.com")
	l := &clusterLoad{t: t, admin: c.admin, latest: map[string]written{}, client: &http.Client{Timeout: 10 * time.Second}}
	for i := range posts {
		id := createRecord(t, c.primary.url, c.admin, "posts", fmt.Sprintf(`{"title": "post %d version 0", "author": %q}`, i, author))
		l.posts = append(l.posts, id)
		l.latest[id] = written{}
	}
	l.use(c.primary, c.edge1, c.edge2)
	return l
}

func (l *clusterLoad) use(nodes ...*clusterNode) {
	urls := make([]string, len(nodes))
	for i, n := range nodes {
		urls[i] = n.url
	}
	l.nodes.Store(&urls)
}

func (l *clusterLoad) node() string {
	nodes := *l.nodes.Load()
	return nodes[rand.IntN(len(nodes))]
}

// run writes (one writer per post) and reads (readers) until stop closes.
func (l *clusterLoad) run(readers int, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for i, post := range l.posts {
		l.mu.Lock()
		first := l.latest[post].version + 1
		l.mu.Unlock()
		wg.Go(func() {
			for version := first; ; version++ {
				select {
				case <-stop:
					return
				default:
				}
				status, header, _ := l.call("PATCH", l.node()+"/api/collections/posts/records/"+post,
					fmt.Sprintf(`{"title": "post %d version %d"}`, i, version), "")
				if status != 200 {
					l.failed.Add(1)
					time.Sleep(20 * time.Millisecond)
					continue
				}
				l.writes.Add(1)
				l.mu.Lock()
				l.latest[post] = written{version, header.Get("X-Hapta-Seq")}
				l.mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	for range readers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				l.readOnce()
			}
		})
	}
	return &wg
}

// readOnce reads one post (its view or the list) through a node with the
// sequence of the last write of it known before asking.
func (l *clusterLoad) readOnce() {
	post := l.posts[rand.IntN(len(l.posts))]
	l.mu.Lock()
	known := l.latest[post]
	l.mu.Unlock()
	path := "/api/collections/posts/records/" + post
	list := rand.IntN(2) == 0
	if list {
		path = "/api/collections/posts/records?perPage=100&filter=" + url.QueryEscape(`id="`+post+`"`)
	}
	node := l.node()
	status, header, body := l.call("GET", node+path, "", known.seq)
	if status != 200 {
		l.failed.Add(1)
		return
	}
	l.reads.Add(1)
	if header.Get("X-Hapta-Cache") == "HIT" {
		l.hits.Add(1)
	}
	var answer struct {
		Title string
		Items []struct{ Title string }
	}
	_ = json.Unmarshal(body, &answer)
	if list && len(answer.Items) == 1 {
		answer.Title = answer.Items[0].Title
	}
	fields := strings.Fields(answer.Title)
	version, err := strconv.Atoi(fields[len(fields)-1])
	if err != nil || version < known.version {
		l.stale.Add(1)
		l.mu.Lock()
		l.staleReads = append(l.staleReads, fmt.Sprintf("%s%s with seq %s: %q, written: version %d", node, path, known.seq, answer.Title, known.version))
		l.mu.Unlock()
	}
}

func (l *clusterLoad) call(method, url, body, seq string) (int, http.Header, []byte) {
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", l.admin)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if seq != "" {
		req.Header.Set("X-Hapta-Seq", seq)
	}
	res, err := l.client.Do(req)
	if err != nil {
		return 0, nil, nil
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, data
}

// checkNoStaleRead fails the test on any stale read so far.
func (l *clusterLoad) checkNoStaleRead(phase string) {
	l.t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t.Logf("%s: %d writes, %d reads (%d from an edge's cache), %d failed calls, %d stale",
		phase, l.writes.Load(), l.reads.Load(), l.hits.Load(), l.failed.Load(), l.stale.Load())
	if len(l.staleReads) > 0 {
		l.t.Fatalf("%s: %d stale reads: %s", phase, len(l.staleReads), strings.Join(l.staleReads, "\n"))
	}
}

// phase runs the load for d and checks it.
func (l *clusterLoad) phase(name string, readers int, d time.Duration) {
	l.t.Helper()
	stop := make(chan struct{})
	wg := l.run(readers, stop)
	time.Sleep(d)
	close(stop)
	wg.Wait()
	l.checkNoStaleRead(name)
}

func TestClusterConcurrentReadersAndWritersSeeNoStaleRead(t *testing.T) {
	t.Parallel()
	c := startCluster(t, "")
	load := newClusterLoad(t, c, 4)
	load.phase("three nodes", 8, 4*time.Second)
	if load.hits.Load() < load.reads.Load()/4 {
		t.Fatalf("too few reads came from an edge's cache to test it: %d of %d", load.hits.Load(), load.reads.Load())
	}
}

func TestClusterFaultsNATSAnEdgeAndThePrimaryGoAway(t *testing.T) {
	t.Parallel()
	natsPort, natsDir := testsupport.FreePort(t), t.TempDir()
	nats := testsupport.NATS(t, natsPort, natsDir)
	c := startCluster(t, "nats://127.0.0.1:"+strconv.Itoa(natsPort))
	load := newClusterLoad(t, c, 3)
	t.Logf("primary %s, edges %s %s", c.primary.url, c.edge1.url, c.edge2.url)
	failedSince := func(before int64) int64 { return load.failed.Load() - before }

	load.phase("all up", 6, 1500*time.Millisecond)

	// NATS stops mid-load: the edges forward everything, still fresh
	stop := make(chan struct{})
	wg := load.run(6, stop)
	time.Sleep(300 * time.Millisecond)
	nats.Shutdown()
	nats.WaitForShutdown()
	c.edge1.waitServing(t, false)
	c.edge2.waitServing(t, false)
	failed := load.failed.Load()
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()
	load.checkNoStaleRead("NATS down")
	if n := failedSince(failed); n > 0 {
		t.Fatalf("%d calls failed while NATS was down", n)
	}

	// NATS comes back: the edges catch up and answer from their caches again
	testsupport.NATS(t, natsPort, natsDir)
	c.edge1.waitServing(t, true)
	c.edge2.waitServing(t, true)
	hits := load.hits.Load()
	load.phase("NATS back", 6, 1500*time.Millisecond)
	if load.hits.Load() == hits {
		t.Fatal("no read came from an edge's cache after NATS came back")
	}

	// an edge is killed: the primary and the other edge are unaffected
	c.edge1.kill()
	load.use(c.primary, c.edge2)
	failed = load.failed.Load()
	load.phase("an edge killed", 6, time.Second)
	if n := failedSince(failed); n > 0 {
		t.Fatalf("%d calls to the primary and the other edge failed after an edge was killed", n)
	}

	// the primary stops: the edge answers 503 for what it cannot serve
	// coherently, reads and writes
	c.primary.stop(t)
	view := "/api/collections/posts/records/" + load.posts[0]
	deadline := time.Now().Add(5 * time.Second)
	for status, _, _ := load.call("GET", c.edge2.url+view, "", ""); status != 503; status, _, _ = load.call("GET", c.edge2.url+view, "", "") {
		if time.Now().After(deadline) {
			t.Fatalf("a read through the edge 5s after the primary stopped: %d", status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if status, _, body := load.call("PATCH", c.edge2.url+view, `{"title": "post 0 version 999999"}`, ""); status != 503 {
		t.Fatalf("a write through the edge without its primary: %d %s", status, body)
	}

	// and recovers when it returns
	c.primary.restart(t)
	c.edge2.waitServing(t, true)
	failed = load.failed.Load()
	load.phase("the primary back", 6, 1500*time.Millisecond)
	if n := failedSince(failed); n > 0 {
		t.Fatalf("%d calls failed after the primary came back", n)
	}
}

// subscribe opens PocketBase's realtime stream through url and subscribes
// to topic, as a guest.
func subscribe(t *testing.T, url, topic string) *sse.Stream {
	t.Helper()
	stream, err := sse.Connect(http.DefaultClient, url, 16)
	if err != nil {
		t.Fatalf("realtime through %s: %v", url, err)
	}
	t.Cleanup(stream.Close)
	if err := stream.Subscribe("", topic); err != nil {
		t.Fatalf("subscribe through %s: %v", url, err)
	}
	return stream
}

func nextEvent(t *testing.T, stream *sse.Stream) sse.Event {
	t.Helper()
	select {
	case event, ok := <-stream.Events:
		if !ok {
			t.Fatal("the realtime stream ended")
		}
		return event
	case <-time.After(10 * time.Second):
		t.Fatal("no realtime event within 10s")
	}
	return sse.Event{}
}

func TestClusterRealtimeGoesThroughAnEdgeToThePrimary(t *testing.T) {
	t.Parallel()
	c := startCluster(t, "")
	author, _ := createUser(t, c.primary.url, "rt@example.com")
	events := subscribe(t, c.edge1.url, "posts")
	id := createRecord(t, c.edge2.url, c.admin, "posts", fmt.Sprintf(`{"title": "live post", "author": %q}`, author))
	event := nextEvent(t, events)
	var message struct {
		Action string
		Record struct{ ID, Title string }
	}
	if event.Name != "posts" || json.Unmarshal([]byte(event.Data), &message) != nil ||
		message.Action != "create" || message.Record.ID != id || message.Record.Title != "live post" {
		t.Fatalf("the event of a create through the other edge: %+v", event)
	}
}
