// Command clusterbench measures a Hapta cluster on loopback: a primary
// (NATS embedded) and two edges, each a process of the built binary, all
// caching the posts collection.
//
// It seeds 1,000 posts, then drives the same 95/5 read/write workload
// (reads: half list pages, half single posts; writes: a post's title,
// as a superuser) twice, in turns: through the primary alone, and through
// the two edges (clients split between them; writes are forwarded to the
// primary), each round after reading every list page and post once through
// every node (the steady state of servers that have run a while: the other
// setup's writes left the caches it did not read cold). It reports
// requests per second, p50 and p99 latency, and how many reads the edges
// answered from their caches, that is how many did not reach the primary. Then it measures the invalidation lag: after a write's
// answer, how long until an edge answers the new title to a reader that
// does not send the write's sequence.
//
// On one machine, the nodes share its cores: the figure that matters is the
// primary's offload, which is what lets N edges on N machines serve about N
// times the reads (docs/scaling.md).
//
//	make bench-cluster
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/postr-inc/hapta/internal/benchserver"
)

const posts = 1000

type options struct {
	binary      string
	duration    time.Duration
	rounds      int
	concurrency int
	lagTrials   int
	ttl         string // of the cached posts, "" for dynamic
}

func main() {
	var o options
	flag.StringVar(&o.binary, "binary", "./pocketbase", "the built Hapta binary")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "how long each round of a setup runs")
	flag.IntVar(&o.rounds, "rounds", 2, "rounds per setup, the setups taking turns")
	flag.IntVar(&o.concurrency, "concurrency", 16, "concurrent clients")
	flag.IntVar(&o.lagTrials, "lag-trials", 200, "writes whose invalidation lag is measured")
	flag.StringVar(&o.ttl, "ttl", "", `the cached posts' "ttl" ("5m", say; the default is dynamic)`)
	write := flag.String("write", "", "a Markdown file whose clusterbench section gets the tables")
	flag.Parse()

	table, err := benchmark(o)
	if err != nil {
		log.Fatal(err)
	}
	if err := benchserver.Publish(*write, "clusterbench", table); err != nil {
		log.Fatal(err)
	}
}

// cluster is the running primary and edges.
type cluster struct {
	primary *benchserver.Server
	edges   []*benchserver.Server
	admin   string
	postIDs []string
	client  *http.Client
}

func startCluster(o options) (*cluster, func(), error) {
	natsPort, err := benchserver.FreePort()
	if err != nil {
		return nil, nil, err
	}
	posts := map[string]any{"http": true}
	if o.ttl != "" {
		posts["ttl"] = o.ttl
	}
	cache := map[string]any{"collections": map[string]any{"posts": posts}}
	c := &cluster{client: &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		DisableCompression: true, MaxIdleConnsPerHost: 2 * o.concurrency,
	}}}
	var servers []*benchserver.Server
	stop := func() {
		for _, s := range slices.Backward(servers) {
			s.Stop()
		}
	}
	c.primary, err = benchserver.Start(o.binary, map[string]any{
		"logLevel": "warn", "ADMIN_EMAIL": benchserver.AdminEmail, "ADMIN_PASSWORD": benchserver.AdminPassword, "cache": cache,
		"cluster": map[string]any{"nats": "embedded", "natsListen": "127.0.0.1:" + strconv.Itoa(natsPort)},
	}, o.concurrency)
	if err != nil {
		return nil, nil, err
	}
	servers = append(servers, c.primary)
	for range 2 {
		edge, err := benchserver.Start(o.binary, map[string]any{"logLevel": "warn", "cache": cache, "cluster": map[string]any{
			"role": "edge", "primary": c.primary.Base, "nats": "nats://127.0.0.1:" + strconv.Itoa(natsPort),
		}}, o.concurrency)
		if err != nil {
			stop()
			return nil, nil, err
		}
		servers = append(servers, edge)
		c.edges = append(c.edges, edge)
	}
	if c.admin, err = c.primary.SuperuserToken(benchserver.AdminEmail, benchserver.AdminPassword); err != nil {
		stop()
		return nil, nil, err
	}
	for _, edge := range c.edges {
		if err := waitServing(edge); err != nil {
			stop()
			return nil, nil, err
		}
	}
	return c, stop, nil
}

// waitServing waits until an edge answers from its cache.
func waitServing(edge *benchserver.Server) error {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var health struct {
			Data struct{ Cluster struct{ Serving bool } }
		}
		if edge.Call("GET", "/api/health", "", nil, &health) == nil && health.Data.Cluster.Serving {
			return nil
		}
	}
	return fmt.Errorf("the edge %s does not answer from its cache", edge.Base)
}

// seed creates the posts, concurrently, through the primary.
func (c *cluster) seed() error {
	var author struct{ ID string }
	if err := c.primary.Call("POST", "/api/collections/users/records", "", map[string]any{
		"email": "author@example.com", "password": "password-123", "passwordConfirm": "password-123",
	}, &author); err != nil {
		return err
	}
	ids := make([]string, posts)
	errs := make(chan error, posts)
	var wg sync.WaitGroup
	for worker := range 8 {
		wg.Go(func() {
			for i := worker; i < posts; i += 8 {
				var post struct{ ID string }
				err := c.primary.Call("POST", "/api/collections/posts/records", c.admin,
					map[string]any{"title": "Post " + strconv.Itoa(i), "body": strings.Repeat("text ", 20), "author": author.ID}, &post)
				if err != nil {
					errs <- err
					return
				}
				ids[i] = post.ID
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	c.postIDs = ids
	return nil
}

// warm reads every list page and post once through every node: the steady
// state of servers that have run a while.
func (c *cluster) warm() error {
	paths := make([]string, 0, len(c.postIDs)+10)
	for page := 1; page <= 10; page++ {
		paths = append(paths, listPath(page))
	}
	for _, id := range c.postIDs {
		paths = append(paths, "/api/collections/posts/records/"+id)
	}
	for _, node := range append([]*benchserver.Server{c.primary}, c.edges...) {
		for _, path := range paths {
			if err := node.Call("GET", path, "", nil, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

func listPath(page int) string {
	return "/api/collections/posts/records?perPage=20&sort=-created&page=" + strconv.Itoa(page)
}

// setup is a workload and where its clients send their requests.
type setup struct {
	name     string // the workload's
	nodes    string
	bases    []string
	edges    bool
	skewed   bool // reads pick popular posts and first pages more (Zipf); writes stay uniform
	baseline string
}

func (s setup) key() string { return s.name + ", " + s.nodes }

func (c *cluster) setups() []setup {
	edges := make([]string, len(c.edges))
	for i, edge := range c.edges {
		edges[i] = edge.Base
	}
	var setups []setup
	for _, skewed := range []bool{false, true} {
		name := "uniform"
		if skewed {
			name = "popular reads"
		}
		alone := setup{name: name, nodes: "primary alone", bases: []string{c.primary.Base}, skewed: skewed}
		alone.baseline = alone.key()
		setups = append(setups, alone,
			setup{name: name, nodes: "primary + 2 edges", bases: edges, edges: true, skewed: skewed, baseline: alone.key()})
	}
	return setups
}

// workload is 95% reads (half list pages, half posts) and 5% writes of a
// post's title; reads counts the reads sent.
func (c *cluster) workload(s setup, reads *countingReads) benchserver.Op {
	return func(r *rand.Rand) (int64, error) {
		base := s.bases[r.IntN(len(s.bases))]
		pick := func(n int) int { return r.IntN(n) }
		if s.skewed {
			pick = func(n int) int { return int(rand.NewZipf(r, 1.1, 1, uint64(n-1)).Uint64()) }
		}
		var method, path string
		var body string
		switch n := r.IntN(100); {
		case n < 5:
			method, path = "PATCH", "/api/collections/posts/records/"+c.postIDs[r.IntN(len(c.postIDs))]
			body = `{"title": "Edited ` + strconv.Itoa(r.IntN(1e6)) + `"}`
		case n < 50:
			method, path = "GET", listPath(1+pick(10))
		default:
			method, path = "GET", "/api/collections/posts/records/"+c.postIDs[pick(len(c.postIDs))]
		}
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if method == "PATCH" {
			req.Header.Set("Authorization", c.admin)
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := c.client.Do(req)
		if err != nil {
			return 0, err
		}
		n, err := drain(res)
		if err == nil && res.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s %s: %d", method, path, res.StatusCode)
		}
		if method == "GET" {
			reads.count(res.Header.Get("X-Hapta-Cache") == "HIT")
		}
		return n, err
	}
}

// countingReads counts the reads sent and those an edge's cache answered
// (on the primary alone, its own cache's HITs).
type countingReads struct {
	mu          sync.Mutex
	total, hits int
}

func (c *countingReads) count(hit bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total++
	if hit {
		c.hits++
	}
}

func benchmark(o options) (string, error) {
	absolute, err := filepath.Abs(o.binary)
	if err != nil {
		return "", err
	}
	o.binary = absolute
	c, stop, err := startCluster(o)
	if err != nil {
		return "", err
	}
	defer stop()
	if err := c.seed(); err != nil {
		return "", fmt.Errorf("seeding: %w", err)
	}
	setups := c.setups()
	results := map[string]*benchserver.Samples{}
	reads := map[string]*countingReads{}
	for _, s := range setups {
		results[s.key()], reads[s.key()] = &benchserver.Samples{}, &countingReads{}
	}
	forwarded := map[string]int{} // by the edges, while each setup ran
	for round := range o.rounds {
		for i := range setups {
			s := setups[(round+i)%len(setups)]
			// the other setup's writes made the caches it did not read cold
			if err := c.warm(); err != nil {
				return "", fmt.Errorf("warming: %w", err)
			}
			before, err := c.forwardedReads()
			if err != nil {
				return "", err
			}
			samples, err := benchserver.Drive(c.workload(s, reads[s.key()]), o.duration, o.concurrency)
			if err != nil {
				return "", fmt.Errorf("%s: %w", s.key(), err)
			}
			results[s.key()].Add(samples)
			after, err := c.forwardedReads()
			if err != nil {
				return "", err
			}
			forwarded[s.key()] += after - before
		}
	}
	lags, err := c.invalidationLags(o.lagTrials)
	if err != nil {
		return "", err
	}
	return formatTable(o, setups, results, reads, forwarded, lags), nil
}

// forwardedReads is how many cached-collection reads the edges sent to the
// primary (misses, and reads while catching up), from their statistics.
func (c *cluster) forwardedReads() (int, error) {
	total := 0
	for _, edge := range c.edges {
		var stats struct{ Misses, ForwardedWhileCatchingUp int }
		if err := edge.Call("GET", "/api/hapta/cache/stats", c.admin, nil, &stats); err != nil {
			return 0, err
		}
		total += stats.Misses + stats.ForwardedWhileCatchingUp
	}
	return total, nil
}

// invalidationLags writes a post's title through the primary, then reads
// it through an edge, without the write's sequence, until the new title
// shows: the time from the write's answer to the first fresh read.
func (c *cluster) invalidationLags(trials int) ([]time.Duration, error) {
	lags := make([]time.Duration, 0, trials)
	for trial := range trials {
		post := c.postIDs[trial%len(c.postIDs)]
		edge := c.edges[trial%len(c.edges)]
		var before struct{ Title string }
		if err := edge.Call("GET", "/api/collections/posts/records/"+post, "", nil, &before); err != nil { // cached now
			return nil, err
		}
		title := "Lag trial " + strconv.Itoa(trial)
		if err := c.primary.Call("PATCH", "/api/collections/posts/records/"+post, c.admin, map[string]any{"title": title}, nil); err != nil {
			return nil, err
		}
		written := time.Now()
		for {
			var after struct{ Title string }
			if err := edge.Call("GET", "/api/collections/posts/records/"+post, "", nil, &after); err != nil {
				return nil, err
			}
			if after.Title == title {
				lags = append(lags, time.Since(written))
				break
			}
			if time.Since(written) > 10*time.Second {
				return nil, fmt.Errorf("%s still shows %q 10s after the write", edge.Base, after.Title)
			}
		}
	}
	slices.Sort(lags)
	return lags, nil
}

func drain(res *http.Response) (int64, error) {
	defer res.Body.Close()
	return io.Copy(io.Discard, res.Body)
}

func formatTable(o options, setups []setup, results map[string]*benchserver.Samples, reads map[string]*countingReads,
	forwarded map[string]int, lags []time.Duration) string {
	var b strings.Builder
	ttl := "dynamic"
	if o.ttl != "" {
		ttl = o.ttl
	}
	fmt.Fprintf(&b, "95%% reads (half list pages of 20 posts sorted by date, half single posts of %d), 5%% title edits of a post as a superuser; "+
		"uniform: every page and post as likely; popular reads: pages and posts read with a Zipf law (s = 1.1), writes still uniform. "+
		"Posts' TTL %s; %d clients; %d rounds of %s per setup, the setups taking turns; one loopback machine (the primary, two edges and the clients share its 2 cores).\n\n",
		posts, ttl, o.concurrency, o.rounds, o.duration)
	b.WriteString("| workload | nodes | req/s | p50 | p99 | reads | answered by an edge's cache | reads that reached the primary |\n|---|---|---|---|---|---|---|---|\n")
	elapsed := time.Duration(o.rounds) * o.duration
	for _, s := range setups {
		r := results[s.key()].Summarize(elapsed)
		base := results[s.baseline].Summarize(elapsed)
		counted := reads[s.key()]
		offload, reached := "none (no edge)", fmt.Sprintf("%d (100%%)", counted.total)
		if s.edges {
			offload = fmt.Sprintf("%d (**%.1f%%**)", counted.hits, 100*float64(counted.hits)/float64(counted.total))
			reached = fmt.Sprintf("%d (%.1f%%; the edges counted %d)", counted.total-counted.hits,
				100*float64(counted.total-counted.hits)/float64(counted.total), forwarded[s.key()])
		}
		fmt.Fprintf(&b, "| %s | %s | %.0f (%.2fx) | %v | %v | %d | %s | %s |\n", s.name, s.nodes, r.RPS, r.RPS/base.RPS,
			r.P50.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond), counted.total, offload, reached)
	}
	fmt.Fprintf(&b, "\nInvalidation lag (%d writes through the primary, each then read through an edge without its sequence until the new title shows): "+
		"p50 %v, p99 %v, max %v.\n", len(lags), lags[len(lags)/2].Round(10*time.Microsecond),
		lags[len(lags)*99/100].Round(10*time.Microsecond), lags[len(lags)-1].Round(10*time.Microsecond))
	return b.String()
}
