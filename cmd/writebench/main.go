// Command writebench measures the database service's write modes: it runs
// the built Hapta binary and writes the same number of events (10,000 by
// default) through PocketBase's REST API one per request, through
// ctx.DB() one by one, as units of work, through the batch route, and
// deferred, from concurrent clients over loopback HTTP, timing each until
// its records are all in the database. It prints records per second and
// the ratios to the REST saves as a Markdown table, which -write puts into
// a Markdown file between <!-- writebench:begin --> and
// <!-- writebench:end -->.
//
//	make build && go run ./cmd/writebench -binary ./pocketbase -write docs/benchmarks.md
package main

import (
	"flag"
	"fmt"
	"log"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/postr-inc/hapta/internal/benchserver"
)

// mode is one way of writing: how many records a request carries and the
// request that writes them.
type mode struct {
	key, name  string
	perRequest int
	send       func(s *benchserver.Server, names []string) error
}

func events(names []string) []map[string]any {
	list := make([]map[string]any, len(names))
	for i, name := range names {
		list[i] = map[string]any{"name": name, "payload": map[string]any{"n": i}}
	}
	return list
}

func eventsRoute(query string) func(s *benchserver.Server, names []string) error {
	return func(s *benchserver.Server, names []string) error {
		return s.Call("POST", "/api/events"+query, "", map[string]any{"events": events(names)}, nil)
	}
}

func modes(unitSize int) []mode {
	return []mode{
		{"rest", "PocketBase REST API, one record per request", 1, func(s *benchserver.Server, names []string) error {
			return s.Call("POST", "/api/collections/events/records", "", events(names)[0], nil)
		}},
		{"direct", "ctx.DB().Create, one record per request", 1, eventsRoute("?mode=direct")},
		{"unit", fmt.Sprintf("a unit of work of %d per request", unitSize), unitSize, eventsRoute("?mode=unit")},
		{"batch", fmt.Sprintf("POST /api/hapta/batch, %d ops per request", unitSize), unitSize, func(s *benchserver.Server, names []string) error {
			ops := make([]map[string]any, len(names))
			for i, e := range events(names) {
				ops[i] = map[string]any{"op": "create", "collection": "events", "data": e}
			}
			return s.Call("POST", "/api/hapta/batch", "", map[string]any{"ops": ops}, nil)
		}},
		{"defer", "Defer, one record per request", 1, eventsRoute("")},
		{"defer-many", fmt.Sprintf("Defer, %d records per request", unitSize), unitSize, eventsRoute("")},
	}
}

type result struct {
	mode               mode
	answered, complete time.Duration // until the last answer, until every record is stored
}

func main() {
	binary := flag.String("binary", "./pocketbase", "the built Hapta binary")
	count := flag.Int("records", 10_000, "records written by each mode")
	concurrency := flag.Int("concurrency", 8, "concurrent clients")
	unitSize := flag.Int("unit", 100, "records per request of the units, the batch route and many deferred")
	write := flag.String("write", "", "a Markdown file whose writebench section gets the table")
	primary := flag.Bool("primary", false, "run the server as a cluster's primary with NATS embedded: every write is also published")
	flag.Parse()

	absolute, err := filepath.Abs(*binary)
	if err != nil {
		log.Fatal(err)
	}
	config := map[string]any{"logLevel": "error", "ADMIN_EMAIL": benchserver.AdminEmail, "ADMIN_PASSWORD": benchserver.AdminPassword}
	if *primary {
		natsPort, err := benchserver.FreePort()
		if err != nil {
			log.Fatal(err)
		}
		config["cluster"] = map[string]any{"nats": "embedded", "natsListen": "127.0.0.1:" + strconv.Itoa(natsPort)}
	}
	server, err := benchserver.Start(absolute, config, *concurrency)
	if err != nil {
		log.Fatal(err)
	}
	defer server.Stop()
	admin, err := server.SuperuserToken(benchserver.AdminEmail, benchserver.AdminPassword)
	if err != nil {
		log.Fatal(err)
	}

	var results []result
	for _, m := range modes(*unitSize) {
		r, err := measure(server, admin, m, *count, *concurrency)
		if err != nil {
			log.Fatalf("%s: %v", m.key, err)
		}
		results = append(results, r)
	}
	table := formatTable(results, *count, *concurrency)
	if err := benchserver.Publish(*write, "writebench", table); err != nil {
		log.Fatal(err)
	}
}

// measure writes count records in m's way from concurrency clients, then
// waits until the database holds them all.
func measure(s *benchserver.Server, admin string, m mode, count, concurrency int) (result, error) {
	requests := make(chan []string)
	go func() {
		defer close(requests)
		for i := 0; i < count; i += m.perRequest {
			names := make([]string, 0, m.perRequest)
			for j := i; j < i+m.perRequest && j < count; j++ {
				names = append(names, fmt.Sprintf("%s-%06d", m.key, j))
			}
			requests <- names
		}
	}()
	began := time.Now()
	errs := make(chan error, concurrency)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for names := range requests {
				if err := m.send(s, names); err != nil {
					errs <- err
					for range requests { // let the producer finish
					}
					return
				}
			}
		})
	}
	wg.Wait()
	answered := time.Since(began)
	close(errs)
	if err := <-errs; err != nil {
		return result{}, err
	}
	filter := url.QueryEscape(fmt.Sprintf("name ~ '%s-%%'", m.key))
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		var page struct{ TotalItems int }
		if err := s.Call("GET", "/api/collections/events/records?perPage=1&filter="+filter, admin, nil, &page); err != nil {
			return result{}, err
		}
		if page.TotalItems >= count {
			return result{mode: m, answered: answered, complete: time.Since(began)}, nil
		}
	}
	return result{}, fmt.Errorf("the records of %s did not all arrive", m.key)
}

func formatTable(results []result, count, concurrency int) string {
	var out strings.Builder
	fmt.Fprintf(&out, "Measured on %s: %d records per mode, %d clients, one run.\n\n", time.Now().Format("2006-01-02"), count, concurrency)
	out.WriteString("| mode | records/s until stored | ratio to REST | answered after | stored after |\n|---|---|---|---|---|\n")
	base := float64(count) / results[0].complete.Seconds()
	for _, r := range results {
		rate := float64(count) / r.complete.Seconds()
		fmt.Fprintf(&out, "| %s | %.0f | **%.1fx** | %s | %s |\n", r.mode.name, rate, rate/base,
			r.answered.Round(time.Millisecond), r.complete.Round(time.Millisecond))
	}
	return out.String()
}
