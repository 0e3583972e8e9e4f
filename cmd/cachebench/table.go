package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/postr-inc/hapta/internal/benchserver"
)

// report is what a run measured.
type report struct {
	results     map[string]map[string]benchserver.Result // by workload, then column
	encodings   map[string]string                        // the list gzip row's Content-Encoding, by column
	stale       map[string][2]staleness                  // by column: the list warmed, then the view too
	duration    time.Duration
	rounds      int
	concurrency int
	ttl         string // the cached posts' ttl, "" for dynamic
}

// format is the Markdown section: throughput and ratios, latencies and
// bytes, then the stale reads.
func (r report) format() string {
	var out strings.Builder
	ttl := "dynamic"
	if r.ttl != "" {
		ttl = r.ttl
	}
	fmt.Fprintf(&out, "Measured on %s: %d posts, %d clients, %d rounds of %s per workload and column, the columns taking turns; "+
		"the cached posts' TTL %s. "+
		"nginx: a 1-second microcache (`proxy_cache_valid 200 1s`, `proxy_cache_lock on`, `proxy_cache_use_stale updating`, "+
		"bypassed for requests with an `Authorization` header, `gzip on`) before a third server without the cache.\n\n",
		time.Now().UTC().Format("2006-01-02"), seedPosts, r.concurrency, r.rounds, r.duration, ttl)

	out.WriteString("| workload | uncached req/s | cached req/s | nginx req/s | cached/uncached | cached/nginx | cached/health |\n")
	out.WriteString("|---|---|---|---|---|---|---|\n")
	health := r.results["health"]["cached"].RPS
	for _, w := range workloads {
		u, c, n := r.row(w.name)
		fmt.Fprintf(&out, "| %s | %.0f | %.0f | %.0f | **%.2fx** | %.2fx | %.2fx |\n",
			w.name, u.RPS, c.RPS, n.RPS, c.RPS/u.RPS, c.RPS/n.RPS, c.RPS/health)
	}

	out.WriteString("\n| workload | uncached p50 / p99 | cached p50 / p99 | nginx p50 / p99 | uncached bytes | cached bytes | nginx bytes |\n")
	out.WriteString("|---|---|---|---|---|---|---|\n")
	for _, w := range workloads {
		u, c, n := r.row(w.name)
		fmt.Fprintf(&out, "| %s | %s / %s | %s / %s | %s / %s | %s | %s | %s |\n", w.name,
			round(u.P50), round(u.P99), round(c.P50), round(c.P99), round(n.P50), round(n.P99),
			r.bytes(w.name, "uncached"), r.bytes(w.name, "cached"), r.bytes(w.name, "nginx"))
	}

	fmt.Fprintf(&out, "\nStale anonymous reads right after a write through the same front (%d writes each):\n\n", trials)
	out.WriteString("| read just before the write | uncached | cached | nginx |\n")
	out.WriteString("|---|---|---|---|\n")
	for i, warmed := range []string{"the list page", "the list page and the post"} {
		fmt.Fprintf(&out, "| %s |", warmed)
		for _, column := range columns {
			s := r.stale[column][i]
			fmt.Fprintf(&out, " view %d/%d, list %d/%d |", s.view, trials, s.list, trials)
		}
		out.WriteString("\n")
	}
	return out.String()
}

func (r report) row(workload string) (uncached, cached, nginx benchserver.Result) {
	results := r.results[workload]
	return results["uncached"], results["cached"], results["nginx"]
}

// bytes is the mean size of an answer's body, with its encoding on the
// list gzip row.
func (r report) bytes(workload, column string) string {
	size := fmt.Sprintf("%.0f", r.results[workload][column].Bytes)
	if workload == "list gzip" {
		size += " " + r.encodings[column]
	}
	return size
}

func round(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
