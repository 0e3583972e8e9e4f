package hapta

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/internal/testsupport"
)

// testApp is a PocketBase app in a data directory with hapta registered
// from a configuration file, not yet bootstrapped.
type testApp struct {
	core.App
	plugin  *plugin
	console *testsupport.SyncBuffer
}

func newTestApp(t testing.TB, dataDir, configJSON string) *testApp {
	t.Helper()
	app := core.NewBaseApp(core.BaseAppConfig{DataDir: dataDir})
	console := &testsupport.SyncBuffer{}
	plugin, err := register(app, nil, Config{ConfigFile: writeConfig(t, configJSON).path}, console)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.ResetBootstrapState() })
	return &testApp{App: app, plugin: plugin, console: console}
}

// haptaApp is a bootstrapped app with its migrations run, after before
// (other plugins, hooks) and hapta from configJSON are registered.
func haptaApp(t testing.TB, configJSON string, before ...func(app core.App)) core.App {
	t.Helper()
	return testsupport.NewApp(t, func(app core.App) {
		for _, register := range before {
			register(app)
		}
		if _, err := register(app, nil, Config{ConfigFile: writeConfig(t, configJSON).path}, &testsupport.SyncBuffer{}); err != nil {
			t.Fatal(err)
		}
	})
}

// serve serves the app over real HTTP; the error is a refused start.
func (a *testApp) serve(t testing.TB) (*httptest.Server, error) {
	t.Helper()
	return testsupport.Serve(t, a)
}

func TestBootstrapWritesLogLevelAndAppURLIntoPocketBase(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	app := newTestApp(t, dataDir, `{"logLevel": "warn", "DatabaseUrl": "https://api.example.com"}`)
	if err := app.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	if got := app.Settings().Logs.MinLevel; got != int(slog.LevelWarn) {
		t.Fatalf("PocketBase's log level = %d, want %d (warn)", got, slog.LevelWarn)
	}
	if got := app.Settings().Meta.AppURL; got != "https://api.example.com" {
		t.Fatalf("Application URL = %q", got)
	}
	_ = app.ResetBootstrapState()

	// saved, so PocketBase alone (and its admin UI) sees them too
	plain := core.NewBaseApp(core.BaseAppConfig{DataDir: dataDir})
	if err := plain.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	defer plain.ResetBootstrapState()
	if plain.Settings().Logs.MinLevel != int(slog.LevelWarn) || plain.Settings().Meta.AppURL != "https://api.example.com" {
		t.Fatalf("settings not saved: minLevel %d, appURL %q", plain.Settings().Logs.MinLevel, plain.Settings().Meta.AppURL)
	}
}

func TestEmptyDatabaseURLLeavesAppURLAlone(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, t.TempDir(), `{"DatabaseUrl": ""}`)
	if err := app.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	if got := app.Settings().Meta.AppURL; got != "http://localhost:8090" {
		t.Fatalf("Application URL = %q, want PocketBase's own default", got)
	}
}

func TestBadConfigurationStopsBootstrap(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, t.TempDir(), `{"logLevel": "loud"}`)

	err := app.Bootstrap()
	var configErr *ConfigError
	if !errors.As(err, &configErr) || configErr.Key != "logLevel" {
		t.Fatalf("Bootstrap error = %v, want a ConfigError for logLevel", err)
	}
	if app.IsBootstrapped() {
		t.Fatal("the app bootstrapped despite the bad configuration")
	}
}

func TestLogLevelFiltersHaptaConsole(t *testing.T) {
	t.Parallel()
	config := `{"ADMIN_EMAIL": "admin@example.com", "ADMIN_PASSWORD": "` + adminPassword + `",
		"JWT_SECRET": "` + jwtSecret + `", "logLevel": "%s"}`

	debug := newTestApp(t, t.TempDir(), strings.Replace(config, "%s", "debug", 1))
	if err := debug.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(debug.console.String(), "configuration loaded") {
		t.Fatalf("debug level: no debug line in %q", debug.console.String())
	}
	assertNoSecret(t, debug.console.String())

	info := newTestApp(t, t.TempDir(), strings.Replace(config, "%s", "info", 1))
	if err := info.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(info.console.String(), "configuration loaded") {
		t.Fatalf("info level printed a debug line: %q", info.console.String())
	}
}

func TestSuperuserIsCreatedAndThenLeftAlone(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	first := newTestApp(t, dataDir, `{"ADMIN_EMAIL": "admin@example.com", "ADMIN_PASSWORD": "`+adminPassword+`"}`)
	if err := first.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	if _, err := first.serve(t); err != nil {
		t.Fatal(err)
	}
	superuser, err := first.FindAuthRecordByEmail(core.CollectionNameSuperusers, "admin@example.com")
	if err != nil {
		t.Fatalf("superuser not created: %v", err)
	}
	if !superuser.ValidatePassword(adminPassword) {
		t.Fatal("superuser created with another password")
	}
	if !strings.Contains(first.console.String(), "created the ADMIN_EMAIL superuser") {
		t.Fatalf("creation not logged: %q", first.console.String())
	}
	assertNoSecret(t, first.console.String())
	_ = first.ResetBootstrapState()

	// a restart with another password must not reset the existing account
	second := newTestApp(t, dataDir, `{"ADMIN_EMAIL": "admin@example.com", "ADMIN_PASSWORD": "another-password-5678"}`)
	if err := second.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	if _, err := second.serve(t); err != nil {
		t.Fatal(err)
	}
	superusers, err := second.FindAllRecords(core.CollectionNameSuperusers)
	if err != nil {
		t.Fatal(err)
	}
	if len(superusers) != 1 || !superusers[0].ValidatePassword(adminPassword) {
		t.Fatalf("existing superuser changed: %d superusers", len(superusers))
	}
}

func TestSuperuserRefusedByPocketBaseNamesTheKey(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, t.TempDir(), `{"ADMIN_EMAIL": "admin@example.com", "ADMIN_PASSWORD": "short"}`)
	if err := app.Bootstrap(); err != nil {
		t.Fatal(err)
	}

	_, err := app.serve(t)
	var configErr *ConfigError
	if !errors.As(err, &configErr) || configErr.Key != "ADMIN_PASSWORD" || strings.Contains(err.Error(), "short") {
		t.Fatalf("serve error = %v, want a ConfigError for ADMIN_PASSWORD without the value", err)
	}
}

func TestAIEnabledWarnsOnceAtStart(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, t.TempDir(), `{"AI_ENABLED": true}`)
	if err := app.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	if _, err := app.serve(t); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(app.console.String(), "AI_ENABLED is true"); n != 1 {
		t.Fatalf("want one AI_ENABLED warning, got %d in %q", n, app.console.String())
	}
	if !strings.Contains(app.console.String(), "level=WARN") {
		t.Fatalf("the AI_ENABLED line is not a warning: %q", app.console.String())
	}

	quiet := newTestApp(t, t.TempDir(), `{"AI_ENABLED": false}`)
	if err := quiet.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	if _, err := quiet.serve(t); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(quiet.console.String(), "AI_ENABLED") {
		t.Fatalf("AI_ENABLED false still warned: %q", quiet.console.String())
	}
}

func TestCORSOnEveryResponse(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, t.TempDir(), `{"origin": ["https://app.example.com", "https://*.example.org"]}`)
	if err := app.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	server, err := app.serve(t)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name, method, path, origin string
		wantStatus                 int
		wantAllowOrigin            string
	}{
		{"PocketBase API", "GET", "/api/health", "https://app.example.com", 200, "https://app.example.com"},
		{"404", "GET", "/api/nothing-here", "https://app.example.com", 404, "https://app.example.com"},
		{"API error", "POST", "/api/collections/_superusers/auth-with-password", "https://app.example.com", 400, "https://app.example.com"},
		{"401", "GET", "/api/collections", "https://app.example.com", 401, "https://app.example.com"},
		{"wildcard subdomain", "GET", "/api/health", "https://eu.example.org", 200, "https://eu.example.org"},
		{"disallowed origin", "GET", "/api/health", "https://evil.example.net", 200, ""},
		{"disallowed on 404", "GET", "/api/nothing-here", "https://evil.example.net", 404, ""},
		{"no origin", "GET", "/api/health", "", 200, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, server.URL+c.path, strings.NewReader(`{}`))
			req.Header.Set("Content-Type", "application/json")
			if c.origin != "" {
				req.Header.Set("Origin", c.origin)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != c.wantStatus {
				t.Fatalf("status %d, want %d", res.StatusCode, c.wantStatus)
			}
			if got := res.Header.Get("Access-Control-Allow-Origin"); got != c.wantAllowOrigin {
				t.Fatalf("Access-Control-Allow-Origin = %q, want %q", got, c.wantAllowOrigin)
			}
		})
	}

	t.Run("preflight", func(t *testing.T) {
		res := preflight(t, server.URL+"/api/collections/users/records", "https://app.example.com", "PATCH", "authorization, content-type")
		if res.StatusCode != http.StatusNoContent ||
			res.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
			!strings.Contains(res.Header.Get("Access-Control-Allow-Methods"), "PATCH") ||
			res.Header.Get("Access-Control-Allow-Headers") != "authorization, content-type" {
			t.Fatalf("preflight: %d %v", res.StatusCode, res.Header)
		}
	})

	t.Run("preflight from a disallowed origin", func(t *testing.T) {
		res := preflight(t, server.URL+"/api/health", "https://evil.example.net", "GET", "")
		if res.Header.Get("Access-Control-Allow-Origin") != "" || res.Header.Get("Access-Control-Allow-Methods") != "" {
			t.Fatalf("a disallowed preflight got CORS headers: %v", res.Header)
		}
	})
}

// preflight sends a browser's CORS preflight request.
func preflight(t *testing.T, url, origin, method, headers string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodOptions, url, nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", method)
	if headers != "" {
		req.Header.Set("Access-Control-Request-Headers", headers)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}

func TestRegisterOnABootstrappedApp(t *testing.T) {
	t.Parallel()
	app := testsupport.NewApp(t, func(core.App) {}) // bootstrapped before hapta is registered
	_, err := register(app, nil, Config{ConfigFile: writeConfig(t, `{"logLevel": "error"}`).path}, &testsupport.SyncBuffer{})
	if err != nil {
		t.Fatal(err)
	}
	if app.Settings().Logs.MinLevel != int(slog.LevelError) {
		t.Fatalf("settings not applied at once: minLevel %d", app.Settings().Logs.MinLevel)
	}

	_, err = register(app, nil, Config{ConfigFile: filepath.Join(t.TempDir(), "missing.json")}, &testsupport.SyncBuffer{})
	if err == nil {
		t.Fatal("a bad configuration on a bootstrapped app must fail Register")
	}
}
