package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/postr-inc/hapta/internal/benchserver"
)

const (
	seedPosts      = 1000
	readerEmail    = "reader@example.com"
	readerPassword = "reader-password-1"
)

// front is where one column's requests go: a server itself, or nginx before
// it. Its server was seeded directly.
type front struct {
	name    string
	base    string // http://127.0.0.1:port
	client  *http.Client
	admin   string // the superuser's token, for writes
	reader  string // a signed-in regular user's token, for the (user) reads
	postIDs []string
	pprof   string // the server's profiles (http://127.0.0.1:port), when served
}

// startFronts runs and seeds a server per column, the cached one with the
// HTTP cache of the posts, and nginx before the third; stop ends them all.
// With profile, the cached server serves its profiles (a binary built with
// -tags pprof).
func startFronts(o options, client *http.Client) ([]*front, func(), error) {
	var stops []func()
	stop := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	var fronts []*front
	for _, name := range columns {
		f, stopOne, err := startFront(name, o, client)
		if err != nil {
			stop()
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		stops = append(stops, stopOne)
		fronts = append(fronts, f)
	}
	return fronts, stop, nil
}

func startFront(name string, o options, client *http.Client) (*front, func(), error) {
	config := map[string]any{"logLevel": "error", "ADMIN_EMAIL": benchserver.AdminEmail, "ADMIN_PASSWORD": benchserver.AdminPassword}
	if name == "cached" {
		posts := map[string]any{"http": true}
		if o.ttl != "" {
			posts["ttl"] = o.ttl
		}
		config["cache"] = map[string]any{"collections": map[string]any{"posts": posts}}
	}
	var env []string
	pprof := ""
	if o.profile != "" && name == "cached" {
		port, err := benchserver.FreePort()
		if err != nil {
			return nil, nil, err
		}
		pprof = "127.0.0.1:" + strconv.Itoa(port)
		env = append(env, "PPROF_LISTEN="+pprof)
		pprof = "http://" + pprof
	}
	server, err := benchserver.Start(o.binary, config, o.concurrency, env...)
	if err != nil {
		return nil, nil, err
	}
	f := &front{name: name, base: server.Base, client: client, pprof: pprof}
	if err := f.seed(server, o.concurrency); err != nil {
		server.Stop()
		return nil, nil, err
	}
	if name != "nginx" {
		return f, server.Stop, nil
	}
	proxy, err := startNginx(o.nginx, strings.TrimPrefix(server.Base, "http://"), o.concurrency)
	if err != nil {
		server.Stop()
		return nil, nil, err
	}
	f.base = proxy.base
	return f, func() { proxy.stop(); server.Stop() }, nil
}

// seed signs in the superuser and a reader, and creates an author and its
// 1,000 posts.
func (f *front) seed(s *benchserver.Server, concurrency int) error {
	admin, err := s.SuperuserToken(benchserver.AdminEmail, benchserver.AdminPassword)
	if err != nil {
		return err
	}
	f.admin = admin
	var author struct{ ID string }
	for _, user := range []struct {
		email, password string
		out             any
	}{{"author@example.com", "author-password-1", &author}, {readerEmail, readerPassword, nil}} {
		if err := s.Call("POST", "/api/collections/users/records", f.admin, map[string]any{
			"email": user.email, "password": user.password, "passwordConfirm": user.password,
		}, user.out); err != nil {
			return err
		}
	}
	var auth struct{ Token string }
	if err := s.Call("POST", "/api/collections/users/auth-with-password", "",
		map[string]string{"identity": readerEmail, "password": readerPassword}, &auth); err != nil {
		return err
	}
	f.reader = auth.Token

	ids := make([]string, seedPosts)
	errs := make(chan error, concurrency)
	var wg sync.WaitGroup
	for worker := 0; worker < concurrency; worker++ {
		wg.Add(1)
		go func(worker int) {
			defer wg.Done()
			for i := worker; i < seedPosts; i += concurrency {
				var post struct{ ID string }
				err := s.Call("POST", "/api/collections/posts/records", f.admin, map[string]any{
					"title": fmt.Sprintf("Post number %04d", i), "body": "A body of some length for post " + strconv.Itoa(i), "author": author.ID,
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
	f.postIDs = ids
	return nil
}

// request is a request to the front with a JSON body (nil for none) and an
// Authorization token ("" for none).
func (f *front) request(method, path, token string, body any) *http.Request {
	var payload io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		payload = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, f.base+path, payload)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	return req
}

// send sends req and copies the answer's body to w, returning the answer
// and the bytes of its body; an answer other than 200 is an error.
func (f *front) send(req *http.Request, w io.Writer) (*http.Response, int64, error) {
	res, err := f.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return nil, 0, fmt.Errorf("%s %s via %s: %d %s", req.Method, req.URL.RequestURI(), f.name, res.StatusCode, data)
	}
	n, err := io.Copy(w, res.Body)
	return res, n, err
}

// fetch reads path anonymously and decodes its JSON answer into out.
func (f *front) fetch(path string, out any) error {
	var body bytes.Buffer
	if _, _, err := f.send(f.request("GET", path, "", nil), &body); err != nil {
		return err
	}
	return json.Unmarshal(body.Bytes(), out)
}

// profileCPU writes the server's CPU profile over the next duration (whole
// seconds, at least one) to file.
func (f *front) profileCPU(file string, duration time.Duration) error {
	seconds := max(1, int(duration.Seconds()))
	res, err := http.Get(f.pprof + "/debug/pprof/profile?seconds=" + strconv.Itoa(seconds))
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("the CPU profile: %s", res.Status)
	}
	out, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, res.Body); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
