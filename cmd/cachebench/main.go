// Command cachebench measures the record cache: it runs the built Hapta
// binary twice, without and with the HTTP cache of the posts collection,
// seeds 1,000 posts each time, drives each server over loopback HTTP with
// the same workloads, and prints requests per second, p50 and p99 latency
// and the cached/uncached ratios as a Markdown table.
//
//	make build && go run ./cmd/cachebench -binary ./pocketbase
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"
)

const (
	seedPosts     = 1000
	adminEmail    = "bench@example.com"
	adminPassword = "bench-password-123"
)

func main() {
	binary := flag.String("binary", "./pocketbase", "the built Hapta binary")
	duration := flag.Duration("duration", 8*time.Second, "how long each workload runs")
	concurrency := flag.Int("concurrency", 8, "concurrent clients")
	flag.Parse()

	absolute, err := filepath.Abs(*binary)
	if err != nil {
		log.Fatal(err)
	}
	results := map[string]map[string]result{}
	for _, mode := range []string{"uncached", "cached"} {
		results[mode], err = measure(absolute, mode == "cached", *duration, *concurrency)
		if err != nil {
			log.Fatalf("%s: %v", mode, err)
		}
	}
	printTable(results, *duration, *concurrency)
}

type result struct {
	requests int
	rps      float64
	p50, p99 time.Duration
}

// measure starts a server, seeds it and runs every workload against it.
func measure(binary string, cached bool, duration time.Duration, concurrency int) (map[string]result, error) {
	dir, err := os.MkdirTemp("", "cachebench")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	port, err := freePort()
	if err != nil {
		return nil, err
	}
	config := map[string]any{
		"port": port, "logLevel": "error", "ADMIN_EMAIL": adminEmail, "ADMIN_PASSWORD": adminPassword,
	}
	if cached {
		config["cache"] = map[string]any{"collections": map[string]any{"posts": map[string]any{"http": true}}}
	}
	configJSON, _ := json.Marshal(config)
	if err := os.WriteFile(filepath.Join(dir, "hapta-config.json"), configJSON, 0o600); err != nil {
		return nil, err
	}

	server := exec.Command(binary, "serve", "--dir", filepath.Join(dir, "pb_data"))
	server.Dir = dir
	server.Stderr = os.Stderr
	if err := server.Start(); err != nil {
		return nil, err
	}
	defer func() {
		_ = server.Process.Signal(os.Interrupt)
		_ = server.Wait()
	}()

	b := &bench{base: "http://127.0.0.1:" + strconv.Itoa(port), client: &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: concurrency * 2},
		Timeout:   10 * time.Second,
	}}
	if err := b.waitHealthy(); err != nil {
		return nil, err
	}
	if err := b.seed(concurrency); err != nil {
		return nil, err
	}

	workloads := []struct {
		name string
		op   func(r *rand.Rand) error
	}{
		{"health", func(*rand.Rand) error { return b.get("/api/health") }}, // the ceiling: no records at all
		{"list", b.list},
		{"view", b.view},
		{"mixed", func(r *rand.Rand) error {
			switch n := r.IntN(100); {
			case n < 5:
				return b.write(r)
			case n < 50:
				return b.list(r)
			default:
				return b.view(r)
			}
		}},
	}
	results := map[string]result{}
	for _, w := range workloads {
		results[w.name] = run(w.op, duration, concurrency)
	}
	return results, nil
}

type bench struct {
	base    string
	client  *http.Client
	token   string // sent by call
	admin   string // the superuser's token, for writes
	userID  string
	postIDs []string
}

func (b *bench) waitHealthy() error {
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if res, err := b.client.Get(b.base + "/api/health"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return errors.New("the server did not become healthy")
}

// call sends a JSON request and decodes a JSON answer into out.
func (b *bench) call(method, path string, body any, out any) error {
	var payload io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		payload = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, b.base+path, payload)
	req.Header.Set("Content-Type", "application/json")
	if b.token != "" {
		req.Header.Set("Authorization", b.token)
	}
	res, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// seed creates an author and 1,000 posts as the superuser.
func (b *bench) seed(concurrency int) error {
	var auth struct{ Token string }
	if err := b.call("POST", "/api/collections/_superusers/auth-with-password",
		map[string]string{"identity": adminEmail, "password": adminPassword}, &auth); err != nil {
		return err
	}
	b.token, b.admin = auth.Token, auth.Token
	var user struct{ ID string }
	if err := b.call("POST", "/api/collections/users/records", map[string]any{
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
				err := b.call("POST", "/api/collections/posts/records", map[string]any{
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
	b.token = "" // the reads are anonymous, as a public feed's are
	return nil
}

func (b *bench) list(r *rand.Rand) error {
	return b.get("/api/collections/posts/records?perPage=20&sort=-created&page=" + strconv.Itoa(1+r.IntN(10)))
}

func (b *bench) view(r *rand.Rand) error {
	return b.get("/api/collections/posts/records/" + b.postIDs[r.IntN(len(b.postIDs))])
}

func (b *bench) get(path string) error {
	res, err := b.client.Get(b.base + path)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d", path, res.StatusCode)
	}
	return nil
}

// write edits a post as the superuser (writes invalidate the cache).
func (b *bench) write(r *rand.Rand) error {
	req, _ := http.NewRequest("PATCH", b.base+"/api/collections/posts/records/"+b.postIDs[r.IntN(len(b.postIDs))],
		bytes.NewReader([]byte(`{"title": "Edited `+strconv.Itoa(r.IntN(1e6))+`"}`)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", b.admin)
	res, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("PATCH: %d", res.StatusCode)
	}
	return nil
}

// run drives op from concurrency clients for duration.
func run(op func(r *rand.Rand) error, duration time.Duration, concurrency int) result {
	var mu sync.Mutex
	var latencies []time.Duration
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	for worker := 0; worker < concurrency; worker++ {
		wg.Add(1)
		go func(worker int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(worker), 42))
			var mine []time.Duration
			for time.Now().Before(deadline) {
				start := time.Now()
				if err := op(r); err != nil {
					log.Fatal(err)
				}
				mine = append(mine, time.Since(start))
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		}(worker)
	}
	wg.Wait()
	slices.Sort(latencies)
	return result{
		requests: len(latencies),
		rps:      float64(len(latencies)) / duration.Seconds(),
		p50:      latencies[len(latencies)/2],
		p99:      latencies[len(latencies)*99/100],
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func printTable(results map[string]map[string]result, duration time.Duration, concurrency int) {
	fmt.Printf("%d posts, %d clients, %s per workload, %s\n\n", seedPosts, concurrency, duration, time.Now().UTC().Format("2006-01-02"))
	fmt.Println("| workload | uncached req/s | cached req/s | throughput ratio | uncached p50 / p99 | cached p50 / p99 | p99 ratio |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, name := range []string{"health", "list", "view", "mixed"} {
		u, c := results["uncached"][name], results["cached"][name]
		fmt.Printf("| %s | %.0f | %.0f | **%.1fx** | %s / %s | %s / %s | %.2fx |\n", name, u.rps, c.rps, c.rps/u.rps,
			round(u.p50), round(u.p99), round(c.p50), round(c.p99), float64(c.p99)/float64(u.p99))
	}
}

func round(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
