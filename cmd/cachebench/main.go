// Command cachebench compares three ways of serving the posts collection of
// the built Hapta binary over loopback HTTP:
//
//   - uncached: the binary without the record cache;
//   - cached: the binary with the HTTP cache of the posts collection
//     ({"cache": {"collections": {"posts": {"http": true}}}});
//   - nginx: the binary without the cache behind nginx keeping anonymous
//     GET answers for one second, the microcaching PocketBase's maintainer
//     recommends (pocketbase/pocketbase#2850).
//
// It seeds 1,000 posts and a signed-in reader in each of the three servers,
// and before each workload reads every list page and post once through each
// front (the steady state of a server that has run a while), drives them in
// turns with the same workloads (health, anonymous and signed-in reads, 5%
// writes, gzip), then counts the reads right after a write that still show
// the old title. It prints requests per second, p50
// and p99 latency, bytes per answer, the ratios and the stale reads as
// Markdown tables, which -write puts into a Markdown file between the lines
// <!-- cachebench:begin --> and <!-- cachebench:end -->.
//
// It needs nginx (-nginx); make bench-cache installs it with apt-get when
// it is missing, builds the binary and writes docs/benchmarks.md:
//
//	make bench-cache
//
// -profile writes the cached server's CPU profile during the first round of
// a workload, from a binary built with -tags pprof:
//
//	go build -tags pprof -o pocketbase-pprof .
//	go run ./cmd/cachebench -binary ./pocketbase-pprof -profile list.pprof -profile-workload list
//	go tool pprof -top pocketbase-pprof list.pprof
package main

import (
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/postr-inc/hapta/internal/benchserver"
)

// columns are the three fronts, in the order of the tables.
var columns = []string{"uncached", "cached", "nginx"}

// options are the benchmark's flags.
type options struct {
	binary, nginx     string
	duration          time.Duration
	rounds            int
	concurrency       int
	ttl               string // of the cached posts, "" for the default
	profile, profiled string // a CPU profile's file, and its workload
}

func main() {
	var o options
	flag.StringVar(&o.binary, "binary", "./pocketbase", "the built Hapta binary")
	flag.StringVar(&o.nginx, "nginx", defaultNginx(), "the nginx binary")
	flag.DurationVar(&o.duration, "duration", 3*time.Second, "how long each round of a workload runs")
	flag.IntVar(&o.rounds, "rounds", 4, "rounds per workload, the three fronts taking turns")
	flag.IntVar(&o.concurrency, "concurrency", 8, "concurrent clients")
	flag.StringVar(&o.ttl, "ttl", "", `the cached posts' "ttl" ("5m", say; the default is dynamic)`)
	flag.StringVar(&o.profile, "profile", "", "a file for the cached server's CPU profile during its first round of -profile-workload (the binary built with -tags pprof)")
	flag.StringVar(&o.profiled, "profile-workload", "list", "the workload -profile profiles")
	write := flag.String("write", "", "a Markdown file whose cachebench section gets the tables")
	flag.Parse()

	table, err := benchmark(o)
	if err != nil {
		log.Fatal(err)
	}
	if err := benchserver.Publish(*write, "cachebench", table); err != nil {
		log.Fatal(err)
	}
}

func defaultNginx() string {
	if path, err := exec.LookPath("nginx"); err == nil {
		return path
	}
	return "/usr/sbin/nginx" // outside a normal user's PATH on Debian
}

// benchmark runs the fronts, the workloads and the freshness trials, and
// returns the Markdown tables.
func benchmark(o options) (string, error) {
	absolute, err := filepath.Abs(o.binary)
	if err != nil {
		return "", err
	}
	if _, err := exec.LookPath(o.nginx); err != nil { // before seeding three servers
		return "", fmt.Errorf("%w (make bench-cache installs nginx)", err)
	}
	// one client for all the fronts: it neither asks for gzip nor
	// decompresses, so the bytes counted are those on the wire
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		DisableCompression: true, MaxIdleConnsPerHost: 2 * o.concurrency,
	}}
	o.binary = absolute
	fronts, stop, err := startFronts(o, client)
	if err != nil {
		return "", err
	}
	defer stop()

	r := report{duration: o.duration, rounds: o.rounds, concurrency: o.concurrency, ttl: o.ttl,
		results: map[string]map[string]benchserver.Result{}, encodings: map[string]string{}, stale: map[string][2]staleness{}}
	for _, w := range workloads {
		all := map[string]*benchserver.Samples{}
		for _, f := range fronts {
			all[f.name] = &benchserver.Samples{}
		}
		for _, f := range fronts {
			if err := f.warm(); err != nil {
				return "", fmt.Errorf("warming %s: %w", f.name, err)
			}
		}
		for round := 0; round < o.rounds; round++ {
			// who goes first rotates: a server keeps writing its request
			// logs in the background after its turn, slowing the next one
			for i := range fronts {
				f := fronts[(round+i)%len(fronts)]
				profiling := make(chan error, 1)
				if f.pprof != "" && w.name == o.profiled && round == 0 {
					go func() { profiling <- f.profileCPU(o.profile, o.duration) }()
				} else {
					profiling <- nil
				}
				s, err := benchserver.Drive(w.op(f), o.duration, o.concurrency)
				if profileErr := <-profiling; err == nil {
					err = profileErr
				}
				if err != nil {
					return "", fmt.Errorf("%s, %s: %w", w.name, f.name, err)
				}
				all[f.name].Add(s)
			}
		}
		r.results[w.name] = map[string]benchserver.Result{}
		for name, s := range all {
			r.results[w.name][name] = s.Summarize(time.Duration(o.rounds) * o.duration)
		}
	}

	random := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	for _, f := range fronts {
		if r.encodings[f.name], err = f.listEncoding(); err != nil {
			return "", err
		}
		var stale [2]staleness
		for i, viewWarmed := range []bool{false, true} {
			if stale[i], err = f.stale(random, viewWarmed); err != nil {
				return "", err
			}
		}
		r.stale[f.name] = stale
	}
	return r.format(), nil
}
