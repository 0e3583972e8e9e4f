package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"
)

// op sends one request of a workload and returns the bytes of its answer's
// body.
type op func(r *rand.Rand) (int64, error)

type workload struct {
	name string
	op   func(f *front) op
}

var workloads = []workload{
	// the ceiling: no records at all
	{"health", func(f *front) op { return f.reads(func(*rand.Rand) string { return "/api/health" }, "", false) }},
	{"list", func(f *front) op { return f.reads(listPath, "", false) }},
	{"view", func(f *front) op { return f.reads(f.viewPath, "", false) }},
	// the posts' rules are "", so Hapta shares its entries with anonymous
	// readers, while nginx passes every request with a token through
	{"list (user)", func(f *front) op { return f.reads(listPath, f.reader, false) }},
	{"view (user)", func(f *front) op { return f.reads(f.viewPath, f.reader, false) }},
	{"mixed", func(f *front) op { return f.mixed("") }},
	{"mixed (user)", func(f *front) op { return f.mixed(f.reader) }},
	{"list gzip", func(f *front) op { return f.reads(listPath, "", true) }},
}

func listPath(r *rand.Rand) string { return listPage(1 + r.IntN(10)) }

func listPage(page int) string {
	return "/api/collections/posts/records?perPage=20&sort=-created&page=" + strconv.Itoa(page)
}

func (f *front) viewPath(r *rand.Rand) string {
	return "/api/collections/posts/records/" + f.postIDs[r.IntN(len(f.postIDs))]
}

// reads GETs path with the token ("" for an anonymous reader, as a public
// feed's are), asking for gzip or not.
func (f *front) reads(path func(*rand.Rand) string, token string, gzip bool) op {
	return func(r *rand.Rand) (int64, error) {
		req := f.request("GET", path(r), token, nil)
		if gzip {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		_, n, err := f.send(req, io.Discard)
		return n, err
	}
}

// warm reads every list page and every post once, as clients of a server
// that has run for a while have: the rounds measure the steady state, not
// the first reads after a start or the writes of the previous workload.
func (f *front) warm() error {
	paths := make([]string, 0, 10+len(f.postIDs))
	for page := 1; page <= 10; page++ {
		paths = append(paths, listPage(page))
	}
	for _, id := range f.postIDs {
		paths = append(paths, "/api/collections/posts/records/"+id)
	}
	for _, path := range paths {
		if _, _, err := f.send(f.request("GET", path, "", nil), io.Discard); err != nil {
			return err
		}
	}
	return nil
}

// listEncoding reads the first list page asking for gzip, checks that the
// answer, decompressed if it is compressed, is JSON, and returns its
// Content-Encoding ("identity" for none).
func (f *front) listEncoding() (string, error) {
	req := f.request("GET", listPage(1), "", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	var body bytes.Buffer
	res, _, err := f.send(req, &body)
	if err != nil {
		return "", err
	}
	encoding, data := res.Header.Get("Content-Encoding"), body.Bytes()
	switch encoding {
	case "":
		encoding = "identity"
	case "gzip":
		zr, err := gzip.NewReader(&body)
		if err != nil {
			return "", fmt.Errorf("list gzip via %s: %w", f.name, err)
		}
		if data, err = io.ReadAll(zr); err != nil {
			return "", fmt.Errorf("list gzip via %s: %w", f.name, err)
		}
	default:
		return "", fmt.Errorf("list gzip via %s: Content-Encoding %q", f.name, encoding)
	}
	if !json.Valid(data) {
		return "", fmt.Errorf("list gzip via %s: the answer is not JSON", f.name)
	}
	return encoding, nil
}

// mixed is 95% reads with the token, half lists and half views, and 5%
// edits of a post's title as the superuser (writes invalidate the cache).
func (f *front) mixed(token string) op {
	list, view := f.reads(listPath, token, false), f.reads(f.viewPath, token, false)
	return func(r *rand.Rand) (int64, error) {
		switch n := r.IntN(100); {
		case n < 5:
			req := f.request("PATCH", f.viewPath(r), f.admin, map[string]any{"title": "Edited " + strconv.Itoa(r.IntN(1e6))})
			_, sent, err := f.send(req, io.Discard)
			return sent, err
		case n < 50:
			return list(r)
		default:
			return view(r)
		}
	}
}

// samples are the latencies and the answers' bytes of a workload's rounds.
type samples struct {
	latencies []time.Duration
	bytes     int64
}

func (s *samples) add(other samples) {
	s.latencies = append(s.latencies, other.latencies...)
	s.bytes += other.bytes
}

type result struct {
	rps      float64
	p50, p99 time.Duration
	bytes    float64 // mean bytes of an answer's body
}

func (s *samples) summarize(elapsed time.Duration) result {
	slices.Sort(s.latencies)
	n := len(s.latencies)
	return result{
		rps: float64(n) / elapsed.Seconds(),
		p50: s.latencies[n/2], p99: s.latencies[n*99/100],
		bytes: float64(s.bytes) / float64(n),
	}
}

// run drives op from concurrency clients for duration; the first error
// stops it.
func run(op op, duration time.Duration, concurrency int) (samples, error) {
	var mu sync.Mutex
	var all samples
	var first error
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	for worker := 0; worker < concurrency; worker++ {
		wg.Add(1)
		go func(worker int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(worker), uint64(time.Now().UnixNano())))
			var mine samples
			var err error
			for err == nil && time.Now().Before(deadline) {
				began := time.Now()
				var n int64
				if n, err = op(r); err == nil {
					mine.latencies = append(mine.latencies, time.Since(began))
					mine.bytes += n
				}
			}
			mu.Lock()
			defer mu.Unlock()
			all.add(mine)
			if first == nil {
				first = err
			}
		}(worker)
	}
	wg.Wait()
	return all, first
}
