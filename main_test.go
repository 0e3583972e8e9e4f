package main

// End-to-end tests of the distribution: they build ./pocketbase once and
// run it as a user would, with a configuration file in a working directory.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/postr-inc/hapta/internal/testsupport"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hapta-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "pocketbase")

	build := exec.Command("go", "build", "-o", binary, ".")
	build.Env = os.Environ()
	if toolchain := os.Getenv("GOTOOLCHAIN"); toolchain == "" || toolchain == "local" {
		build.Env = append(build.Env, "GOTOOLCHAIN=auto")
	}
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the distribution: %v\n%s", err, out)
		os.Exit(1)
	}

	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// run is one ./pocketbase process in a working directory.
type run struct {
	cmd    *exec.Cmd
	output *testsupport.SyncBuffer // stdout and stderr
	exited chan struct{}
	err    error // set when exited is closed
}

// workDir returns a working directory holding hapta-config.json.
func workDir(t *testing.T, config string) string {
	t.Helper()
	dir := t.TempDir()
	if config != "" {
		if err := os.WriteFile(filepath.Join(dir, "hapta-config.json"), []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// start runs ./pocketbase with args in dir, with extra environment entries.
func start(t *testing.T, dir string, env []string, args ...string) *run {
	t.Helper()
	r := &run{cmd: exec.Command(binary, args...), output: &testsupport.SyncBuffer{}, exited: make(chan struct{})}
	// as typed by a user in dir: PocketBase puts pb_data beside argv[0], and
	// takes a binary under the temporary directory for `go run` (dev mode)
	r.cmd.Args[0] = "./pocketbase"
	r.cmd.Dir = dir
	r.cmd.Env = append(os.Environ(), env...)
	r.cmd.Stdout = r.output
	r.cmd.Stderr = r.output
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		r.err = r.cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop ends the process gracefully, as Ctrl-C does.
func (r *run) stop(t *testing.T) {
	t.Helper()
	select {
	case <-r.exited:
		return
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-r.exited:
	case <-time.After(15 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
		t.Errorf("the server did not stop on SIGINT:\n%s", r.output)
	}
}

// waitHealthy waits until GET /api/health answers 200 at baseURL.
func (r *run) waitHealthy(t *testing.T, baseURL string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-r.exited:
			t.Fatalf("the server exited (%v) before answering:\n%s", r.err, r.output)
		default:
		}
		res, err := http.Get(baseURL + "/api/health")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no healthy answer at %s:\n%s", baseURL, r.output)
}

// waitExit waits for the process to end and returns its exit code.
func (r *run) waitExit(t *testing.T) int {
	t.Helper()
	select {
	case <-r.exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("the process is still running:\n%s", r.output)
	}
	return r.cmd.ProcessState.ExitCode()
}

func baseURL(port int) string { return "http://127.0.0.1:" + strconv.Itoa(port) }

// get sends a GET with an optional Origin header.
func get(t *testing.T, url, origin string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}

const adminPassword = "e2e-admin-password-9876"

func TestServeOnTheConfiguredPort(t *testing.T) {
	port := testsupport.FreePort(t)
	dir := workDir(t, fmt.Sprintf(`{
		"port": %d,
		"origin": "https://app.example.com",
		"ADMIN_EMAIL": "admin@example.com",
		"ADMIN_PASSWORD": %q,
		"JWT_SECRET": "*"
	}`, port, adminPassword))
	url := baseURL(port)

	server := start(t, dir, nil, "serve")
	server.waitHealthy(t, url)

	t.Run("admin UI", func(t *testing.T) {
		res, err := http.Get(url + "/_/")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var page bytes.Buffer
		_, _ = page.ReadFrom(res.Body)
		if res.StatusCode != http.StatusOK || !strings.Contains(page.String(), "<html") {
			t.Fatalf("GET /_/: %d %.200s", res.StatusCode, page.String())
		}
	})

	t.Run("the configured superuser logs in with PocketBase's auth-with-password", func(t *testing.T) {
		body, _ := json.Marshal(map[string]string{"identity": "admin@example.com", "password": adminPassword})
		res, err := http.Post(url+"/api/collections/_superusers/auth-with-password", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var auth struct {
			Token  string `json:"token"`
			Record struct {
				Email string `json:"email"`
			} `json:"record"`
		}
		if err := json.NewDecoder(res.Body).Decode(&auth); err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != http.StatusOK || auth.Token == "" || auth.Record.Email != "admin@example.com" {
			t.Fatalf("auth-with-password: %d %+v", res.StatusCode, auth)
		}
	})

	t.Run("CORS for the configured origin only", func(t *testing.T) {
		for _, path := range []string{"/api/health", "/api/no-such-route"} {
			if got := get(t, url+path, "https://app.example.com").Header.Get("Access-Control-Allow-Origin"); got != "https://app.example.com" {
				t.Errorf("%s: allowed origin got Access-Control-Allow-Origin %q", path, got)
			}
			if got := get(t, url+path, "https://other.example.com").Header.Get("Access-Control-Allow-Origin"); got != "" {
				t.Errorf("%s: disallowed origin got Access-Control-Allow-Origin %q", path, got)
			}
		}
		if res := get(t, url+"/api/no-such-route", "https://app.example.com"); res.StatusCode != http.StatusNotFound {
			t.Errorf("unknown route answered %d", res.StatusCode)
		}
	})

	secretFile := filepath.Join(dir, "pb_data", "hapta_jwt_secret")
	generated, err := os.ReadFile(secretFile)
	if err != nil {
		t.Fatalf("JWT_SECRET \"*\" kept no secret in pb_data: %v", err)
	}

	server.stop(t)
	if code := server.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("graceful stop exited %d:\n%s", code, server.output)
	}
	if strings.Contains(server.output.String(), adminPassword) {
		t.Fatal("ADMIN_PASSWORD appeared in the output")
	}

	restarted := start(t, dir, nil, "serve")
	restarted.waitHealthy(t, url)
	again, err := os.ReadFile(secretFile)
	if err != nil || !bytes.Equal(generated, again) {
		t.Fatal("the generated JWT secret changed across a restart")
	}
}

func TestExplicitFlagsWinOverTheConfiguration(t *testing.T) {
	configuredPort, flagPort := testsupport.FreePort(t), testsupport.FreePort(t)
	dir := workDir(t, fmt.Sprintf(`{"port": %d, "origin": "https://configured.example.com"}`, configuredPort))

	server := start(t, dir, nil, "serve", "--http", "127.0.0.1:"+strconv.Itoa(flagPort), "--origins", "https://flag.example.com")
	server.waitHealthy(t, baseURL(flagPort))

	if _, err := http.Get(baseURL(configuredPort) + "/api/health"); err == nil {
		t.Fatal("the configured port answered although --http was given")
	}
	health := baseURL(flagPort) + "/api/health"
	if got := get(t, health, "https://flag.example.com").Header.Get("Access-Control-Allow-Origin"); got != "https://flag.example.com" {
		t.Fatalf("--origins not applied: %q", got)
	}
	if got := get(t, health, "https://configured.example.com").Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Fatalf("the configured origin was allowed although --origins was given: %q", got)
	}
}

func TestEnvironmentAndConfigPathSelection(t *testing.T) {
	filePort, envPort := testsupport.FreePort(t), testsupport.FreePort(t)
	dir := workDir(t, "")
	custom := filepath.Join(dir, "custom.json")
	if err := os.WriteFile(custom, []byte(fmt.Sprintf(`{"port": %d}`, filePort)), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("--hapta-config", func(t *testing.T) {
		server := start(t, dir, nil, "serve", "--hapta-config", custom)
		server.waitHealthy(t, baseURL(filePort))
		server.stop(t)
	})

	t.Run("HAPTA_CONFIG and HAPTA_PORT", func(t *testing.T) {
		env := []string{"HAPTA_CONFIG=" + custom, "HAPTA_PORT=" + strconv.Itoa(envPort)}
		server := start(t, dir, env, "serve")
		server.waitHealthy(t, baseURL(envPort))
		server.stop(t)
	})
}

func TestBadConfigurationExitsBeforeServing(t *testing.T) {
	const secret = "super-secret-value-not-for-logs"
	cases := []struct {
		name   string
		config string   // PORT is replaced by a free port
		env    []string // extra environment
		want   string   // in the message
	}{
		{"invalid JSON", "{\"port\": PORT,\n \"origin\": }", nil, "invalid JSON at line 2, column 12"},
		{"wrong type", `{"port": "PORT"}`, nil, "port (from hapta-config.json): must be an integer"},
		{"port out of range", `{"port": 70000}`, nil, "port (from hapta-config.json): must be from 1 to 65535, got 70000"},
		{"unknown key", `{"port": PORT, "logLevl": "info"}`, nil, `did you mean "logLevel"?`},
		{"log level", `{"port": PORT, "logLevel": "trace"}`, nil, "logLevel (from hapta-config.json)"},
		{"short JWT_SECRET", `{"port": PORT, "JWT_SECRET": "` + secret + `"}`, nil, "JWT_SECRET (from hapta-config.json): is shorter than 32 bytes"},
		{"half-configured Clover", `{"port": PORT, "Clover_Tenant_ID": "t1", "Clover_Secret": "` + secret + `"}`, nil, "Clover_Server_Url: is required"},
		{"bad origin", `{"port": PORT, "origin": "app.example.com"}`, nil, "origin (from hapta-config.json)"},
		{"environment", `{"port": PORT}`, []string{"HAPTA_LOGLEVEL=chatty"}, "logLevel (from HAPTA_LOGLEVEL)"},
		{"missing named file", `{"port": PORT}`, []string{"HAPTA_CONFIG=nowhere.json"}, "nowhere.json: cannot read the file"},
		{"superuser refused", `{"port": PORT, "ADMIN_EMAIL": "a@example.com", "ADMIN_PASSWORD": "short"}`, nil, "ADMIN_PASSWORD (from hapta-config.json): PocketBase refused it"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			port := testsupport.FreePort(t)
			process := start(t, workDir(t, strings.ReplaceAll(c.config, "PORT", strconv.Itoa(port))), c.env, "serve")
			if code := process.waitExit(t); code == 0 {
				t.Fatalf("exit code 0 for a bad configuration:\n%s", process.output)
			}
			output := process.output.String()
			if !strings.Contains(output, c.want) {
				t.Fatalf("output does not name the problem %q:\n%s", c.want, output)
			}
			if strings.Contains(output, "Server started") {
				t.Fatalf("the server started:\n%s", output)
			}
			if strings.Contains(output, secret) {
				t.Fatalf("a secret leaked:\n%s", output)
			}
			if lines := strings.Count(strings.TrimSpace(output), "\n") + 1; lines != 1 {
				t.Fatalf("want one message, got %d lines:\n%s", lines, output)
			}
		})
	}
}
