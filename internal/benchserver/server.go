// Package benchserver runs the built Hapta binary for the load benchmarks
// in cmd/: a server in a temporary folder on a free loopback port, JSON
// calls to it, and the Markdown section a benchmark writes its table into.
package benchserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The superuser a benchmark's servers are configured with (ADMIN_EMAIL and
// ADMIN_PASSWORD).
const (
	AdminEmail    = "bench@example.com"
	AdminPassword = "bench-password-123"
)

// Publish prints a benchmark's Markdown and, when path is not "", puts it
// into the file's section name (WriteSection).
func Publish(path, name, table string) error {
	fmt.Print(table)
	if path == "" {
		return nil
	}
	return WriteSection(path, name, table)
}

// Server is a running ./pocketbase serve.
type Server struct {
	Base   string // http://127.0.0.1:port
	client *http.Client
	cmd    *exec.Cmd
	dir    string
	gc     gcTrace
	traced chan struct{} // closed when gc has read the server's last line
}

// Start runs binary serve with config as hapta-config.json (its port set
// here) and waits until it answers; clients is how many concurrent callers
// its HTTP client keeps connections for, env variables added to its
// environment (PPROF_LISTEN, say). The server's garbage collector writes
// a trace of its cycles, which GC sums.
func Start(binary string, config map[string]any, clients int, env ...string) (*Server, error) {
	dir, err := os.MkdirTemp("", "hapta-bench")
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	config["port"] = port
	configJSON, _ := json.Marshal(config)
	if err := os.WriteFile(filepath.Join(dir, "hapta-config.json"), configJSON, 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, "serve", "--dir", filepath.Join(dir, "pb_data"), "--dev=false")
	cmd.Dir = dir
	cmd.Env = withGCTrace(append(os.Environ(), env...))
	s := &Server{Base: "http://127.0.0.1:" + strconv.Itoa(port), cmd: cmd, dir: dir, client: &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: clients * 2},
		Timeout:   60 * time.Second,
	}}
	// the server's standard error goes through gc, which passes on to
	// this process's what is not the collector's trace
	stderr, into, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = into
	err = cmd.Start()
	into.Close() // the server's copy is the only writer left
	if err != nil {
		stderr.Close()
		return nil, err
	}
	s.traced = make(chan struct{})
	go func() {
		defer close(s.traced)
		defer stderr.Close()
		s.gc.read(stderr, os.Stderr)
	}()
	if err := s.waitHealthy(); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// Stop ends the server as Ctrl-C does and removes its folder.
func (s *Server) Stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	_ = s.cmd.Wait()
	<-s.traced
	os.RemoveAll(s.dir)
}

func (s *Server) waitHealthy() error {
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if res, err := s.client.Get(s.Base + "/api/health"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return errors.New("the server did not become healthy")
}

// Call sends a JSON body (nil for none) with an Authorization token ("" for
// none) and decodes a JSON answer into out (nil to drop it); an answer of
// 300 or more is an error.
func (s *Server) Call(method, path, token string, body, out any) error {
	var payload io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		payload = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, s.Base+path, payload)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	res, err := s.client.Do(req)
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

// SuperuserToken logs in as a superuser (ADMIN_EMAIL and ADMIN_PASSWORD of
// the server's configuration).
func (s *Server) SuperuserToken(email, password string) (string, error) {
	var auth struct{ Token string }
	err := s.Call("POST", "/api/collections/_superusers/auth-with-password", "",
		map[string]string{"identity": email, "password": password}, &auth)
	return auth.Token, err
}

// WriteSection replaces the text between the lines <!-- name:begin --> and
// <!-- name:end --> of the Markdown file path with table.
func WriteSection(path, name, table string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	begin, end := "<!-- "+name+":begin -->\n", "<!-- "+name+":end -->"
	text := string(data)
	b, e := strings.Index(text, begin), strings.Index(text, end)
	if b < 0 || e < b {
		return fmt.Errorf("%s has no %q ... %q section", path, strings.TrimSpace(begin), end)
	}
	text = text[:b+len(begin)] + table + text[e:]
	return os.WriteFile(path, []byte(text), 0o644)
}

// FreePort is a loopback TCP port free at the time of the call, for a
// Server or another server a benchmark runs (such as a proxy before it).
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
