// Command cachebench measures the record cache: it runs the built Hapta
// binary twice at once, without and with the HTTP cache of the posts
// collection, seeds 1,000 posts in each, drives them in turns over loopback
// HTTP with the same workloads, and prints requests per second, p50 and p99 latency
// and the cached/uncached ratios as a Markdown table, which -write puts
// into a Markdown file between the lines <!-- cachebench:begin --> and
// <!-- cachebench:end -->.
//
//	make build && go run ./cmd/cachebench -binary ./pocketbase -write docs/benchmarks.md
package main

import (
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/postr-inc/hapta/internal/benchserver"
)

const (
	seedPosts     = 1000
	adminEmail    = "bench@example.com"
	adminPassword = "bench-password-123"
)

func main() {
	binary := flag.String("binary", "./pocketbase", "the built Hapta binary")
	duration := flag.Duration("duration", 3*time.Second, "how long each round of a workload runs")
	rounds := flag.Int("rounds", 4, "rounds per workload, the two servers taking turns")
	concurrency := flag.Int("concurrency", 8, "concurrent clients")
	write := flag.String("write", "", "a Markdown file whose cachebench section gets the table")
	flag.Parse()

	absolute, err := filepath.Abs(*binary)
	if err != nil {
		log.Fatal(err)
	}
	servers := map[string]*bench{}
	for _, mode := range []string{"uncached", "cached"} {
		server, stop, err := start(absolute, mode == "cached", *concurrency)
		if err != nil {
			log.Fatalf("%s: %v", mode, err)
		}
		defer stop()
		servers[mode] = server
	}

	// the two servers take turns, so that a slower moment of the machine
	// falls on both
	results := map[string]map[string]result{"uncached": {}, "cached": {}}
	for _, workload := range workloadNames {
		latencies := map[string][]time.Duration{}
		for round := 0; round < *rounds; round++ {
			// who goes first alternates: a server keeps writing its request
			// logs in the background after its turn, slowing the next one
			order := []string{"uncached", "cached"}
			if round%2 == 1 {
				order = []string{"cached", "uncached"}
			}
			for _, mode := range order {
				latencies[mode] = append(latencies[mode], run(servers[mode].workload(workload), *duration, *concurrency)...)
			}
		}
		for mode, all := range latencies {
			results[mode][workload] = summarize(all, time.Duration(*rounds)*(*duration))
		}
	}
	table := formatTable(results, *duration, *rounds, *concurrency)
	fmt.Print(table)
	if *write != "" {
		if err := benchserver.WriteSection(*write, "cachebench", table); err != nil {
			log.Fatal(err)
		}
	}
}

type result struct {
	requests int
	rps      float64
	p50, p99 time.Duration
}

// start runs a server with or without the cache and seeds it.
func start(binary string, cached bool, concurrency int) (*bench, func(), error) {
	config := map[string]any{"logLevel": "error", "ADMIN_EMAIL": adminEmail, "ADMIN_PASSWORD": adminPassword}
	if cached {
		config["cache"] = map[string]any{"collections": map[string]any{"posts": map[string]any{"http": true}}}
	}
	server, err := benchserver.Start(binary, config, concurrency)
	if err != nil {
		return nil, nil, err
	}
	b := &bench{Server: server}
	if err := b.seed(concurrency); err != nil {
		server.Stop()
		return nil, nil, err
	}
	return b, server.Stop, nil
}

var workloadNames = []string{"health", "list", "view", "mixed"}

// workload is one request of the named workload.
func (b *bench) workload(name string) func(r *rand.Rand) error {
	switch name {
	case "health": // the ceiling: no records at all
		return func(*rand.Rand) error { return b.get("/api/health") }
	case "list":
		return b.list
	case "view":
		return b.view
	}
	return func(r *rand.Rand) error {
		switch n := r.IntN(100); {
		case n < 5:
			return b.write(r)
		case n < 50:
			return b.list(r)
		default:
			return b.view(r)
		}
	}
}

type bench struct {
	*benchserver.Server
	admin   string // the superuser's token, for writes
	userID  string
	postIDs []string
}

// seed creates an author and 1,000 posts as the superuser.
func (b *bench) seed(concurrency int) error {
	admin, err := b.SuperuserToken(adminEmail, adminPassword)
	if err != nil {
		return err
	}
	b.admin = admin
	var user struct{ ID string }
	if err := b.Call("POST", "/api/collections/users/records", b.admin, map[string]any{
		"email": "author@example.com", "password": "author-password-1", "passwordConfirm": "author-password-1",
	}, &user); err != nil {
		return err
	}
	b.userID = user.ID

	ids := make([]string, seedPosts)
	errs := make(chan error, seedPosts)
	var wg sync.WaitGroup
	for worker := 0; worker < concurrency; worker++ {
		wg.Add(1)
		go func(worker int) {
			defer wg.Done()
			for i := worker; i < seedPosts; i += concurrency {
				var post struct{ ID string }
				err := b.Call("POST", "/api/collections/posts/records", b.admin, map[string]any{
					"title": fmt.Sprintf("Post number %04d", i), "body": "A body of some length for post " + strconv.Itoa(i), "author": b.userID,
				}, &post)
				if err != nil {
					errs <- err
					return
				}
				ids[i] = post.ID
			}
		}(worker)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	b.postIDs = ids
	return nil
}

func (b *bench) list(r *rand.Rand) error {
	return b.get("/api/collections/posts/records?perPage=20&sort=-created&page=" + strconv.Itoa(1+r.IntN(10)))
}

func (b *bench) view(r *rand.Rand) error {
	return b.get("/api/collections/posts/records/" + b.postIDs[r.IntN(len(b.postIDs))])
}

// get reads anonymously, as a public feed's readers do.
func (b *bench) get(path string) error {
	return b.Call("GET", path, "", nil, nil)
}

// write edits a post as the superuser (writes invalidate the cache).
func (b *bench) write(r *rand.Rand) error {
	return b.Call("PATCH", "/api/collections/posts/records/"+b.postIDs[r.IntN(len(b.postIDs))], b.admin,
		map[string]any{"title": "Edited " + strconv.Itoa(r.IntN(1e6))}, nil)
}

// run drives op from concurrency clients for duration and returns the
// latencies.
func run(op func(r *rand.Rand) error, duration time.Duration, concurrency int) []time.Duration {
	var mu sync.Mutex
	var latencies []time.Duration
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	for worker := 0; worker < concurrency; worker++ {
		wg.Add(1)
		go func(worker int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(worker), uint64(time.Now().UnixNano())))
			var mine []time.Duration
			for time.Now().Before(deadline) {
				began := time.Now()
				if err := op(r); err != nil {
					log.Fatal(err)
				}
				mine = append(mine, time.Since(began))
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		}(worker)
	}
	wg.Wait()
	return latencies
}

func summarize(latencies []time.Duration, elapsed time.Duration) result {
	slices.Sort(latencies)
	return result{
		requests: len(latencies),
		rps:      float64(len(latencies)) / elapsed.Seconds(),
		p50:      latencies[len(latencies)/2],
		p99:      latencies[len(latencies)*99/100],
	}
}

func formatTable(results map[string]map[string]result, duration time.Duration, rounds, concurrency int) string {
	var out strings.Builder
	fmt.Fprintf(&out, "Measured on %s: %d posts, %d clients, %d rounds of %s per workload and server, taking turns.\n\n",
		time.Now().UTC().Format("2006-01-02"), seedPosts, concurrency, rounds, duration)
	out.WriteString("| workload | uncached req/s | cached req/s | throughput ratio | uncached p50 / p99 | cached p50 / p99 | p99 ratio |\n")
	out.WriteString("|---|---|---|---|---|---|---|\n")
	for _, name := range workloadNames {
		u, c := results["uncached"][name], results["cached"][name]
		fmt.Fprintf(&out, "| %s | %.0f | %.0f | **%.1fx** | %s / %s | %s / %s | %.2fx |\n", name, u.rps, c.rps, c.rps/u.rps,
			round(u.p50), round(u.p99), round(c.p50), round(c.p99), float64(c.p99)/float64(u.p99))
	}
	return out.String()
}

func round(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
