package hapta

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postr-inc/hapta/plugins/hapta/internal/cluster"
)

// writeConfig writes a configuration file into a temporary directory.
func writeConfig(t testing.TB, content string) configFile {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hapta-config.json")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return configFile{path: path, required: true}
}

const (
	adminPassword = "admin-password-1234"
	jwtSecret     = "jwt-secret-0123456789-0123456789-0123456789"
	cloverSecret  = "clover-secret-98765"
)

func TestLoadSettingsReadsEveryKey(t *testing.T) {
	t.Parallel()
	file := writeConfig(t, `{
		"port": 9123,
		"logLevel": "WARN",
		"origin": ["https://app.example.com", "http://localhost:5173"],
		"ADMIN_EMAIL": "admin@example.com",
		"ADMIN_PASSWORD": "`+adminPassword+`",
		"JWT_SECRET": "`+jwtSecret+`",
		"DatabaseUrl": "https://api.example.com",
		"Clover_Tenant_ID": "tenant-1",
		"Clover_Secret": "`+cloverSecret+`",
		"Clover_Server_Url": "https://clover.example.com",
		"Clover_Serve": true,
		"AI_ENABLED": true,
		"cache": {"maxBytes": 2097152, "collections": {"posts": {"http": true, "ttl": "30s"}}},
		"routes": {"dir": "js", "prefix": "/js", "reload": false, "timeout": "2s", "vms": 3},
		"cluster": {"role": "edge", "primary": "http://10.0.0.1:8090", "nats": ["nats://10.0.0.1:4222"], "maxLag": "3s", "readWait": "500ms"},
		"realtime": {"fanout": "grouped", "queueSize": 50, "writeTimeout": "3s"}
	}`)

	got, err := loadSettings(Settings{}, file, nil)
	if err != nil {
		t.Fatal(err)
	}

	want := Settings{
		Port:          9123,
		LogLevel:      "warn",
		Origins:       []string{"https://app.example.com", "http://localhost:5173"},
		AdminEmail:    "admin@example.com",
		AdminPassword: adminPassword,
		JWTSecret:     jwtSecret,
		DatabaseURL:   "https://api.example.com",
		Clover:        CloverSettings{TenantID: "tenant-1", Secret: cloverSecret, ServerURL: "https://clover.example.com", Serve: true},
		AIEnabled:     true,
		Cache: CacheSettings{MaxBytes: 2 << 20, MinTTL: "1s", MaxTTL: "5m",
			Collections: map[string]CollectionCacheSettings{"posts": {HTTP: true, TTL: "30s"}}},
		Routes:   RoutesSettings{Dir: "js", Prefix: "/js", Reload: got.Routes.Reload, Timeout: "2s", VMs: 3},
		Cluster:  got.Cluster, // compared below
		Realtime: RealtimeSettings{Fanout: "grouped", QueueSize: 50, WriteTimeout: "3s"},
	}
	wantCluster := ClusterSettings{Role: "edge", Primary: "http://10.0.0.1:8090", NATS: NATSServers{"nats://10.0.0.1:4222"}, MaxLag: "3s", ReadWait: "500ms"}
	if got.Cluster == nil || fmt.Sprintf("%#v", *got.Cluster) != fmt.Sprintf("%#v", wantCluster) {
		t.Fatalf("cluster: %#v", got.Cluster)
	}
	if fmt.Sprintf("%#v", got.Settings) != fmt.Sprintf("%#v", want) ||
		got.AdminPassword != want.AdminPassword || got.JWTSecret != want.JWTSecret || got.Clover.Secret != want.Clover.Secret {
		t.Fatalf("settings:\n got %#v\nwant %#v", got.Settings, want)
	}
	if got.source("port") != file.path {
		t.Fatalf("source of port = %q, want the file", got.source("port"))
	}
	if got.Routes.Reload == nil || *got.Routes.Reload {
		t.Fatalf("routes.reload: %v", got.Routes.Reload)
	}
	if got.realtime == nil || got.realtime.QueueSize != 50 || got.realtime.WriteTimeout != 3*time.Second {
		t.Fatalf("realtime options: %+v", got.realtime)
	}
	if len(settingKeys) != 16 {
		t.Fatalf("this test covers 16 keys, there are %d", len(settingKeys))
	}
}

func TestLoadSettingsDefaults(t *testing.T) {
	t.Parallel()
	missing := configFile{path: filepath.Join(t.TempDir(), DefaultConfigFile)}

	got, err := loadSettings(Settings{}, missing, nil)
	if err != nil {
		t.Fatalf("a missing default file must mean defaults, got %v", err)
	}
	if got.Port != 8090 || got.LogLevel != "info" || !slices.Equal(got.Origins, []string{"*"}) ||
		got.JWTSecret != "" || got.AdminEmail != "" || got.Clover.Enabled() || got.AIEnabled {
		t.Fatalf("defaults: %#v", got.Settings)
	}
}

func TestLoadSettingsGoValuesAreDefaultsForTheFile(t *testing.T) {
	t.Parallel()
	file := writeConfig(t, `{"port": 9001}`)

	got, err := loadSettings(Settings{Port: 7000, LogLevel: "debug"}, file, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Port != 9001 || got.LogLevel != "debug" {
		t.Fatalf("the file must override Go values and keep the others: port %d, logLevel %q", got.Port, got.LogLevel)
	}
}

func TestLoadSettingsEnvironmentOverridesTheFile(t *testing.T) {
	t.Parallel()
	file := writeConfig(t, `{"port": 9001, "origin": "*", "AI_ENABLED": true, "logLevel": "error"}`)
	environ := []string{
		"HAPTA_PORT=9002",
		"HAPTA_ORIGIN=https://a.example.com, https://b.example.com",
		"HAPTA_AI_ENABLED=false",
		"HAPTA_ADMIN_EMAIL=root@example.com",
		"HAPTA_ADMIN_PASSWORD=" + adminPassword,
		"HAPTA_JWT_SECRET=" + jwtSecret,
		"HAPTA_DATABASEURL=http://localhost:9002",
		"HAPTA_CLOVER_TENANT_ID=t-9",
		"HAPTA_CLOVER_SECRET=" + cloverSecret,
		"HAPTA_CLOVER_SERVER_URL=http://127.0.0.1:7777",
		"HAPTA_CONFIG=" + file.path, // the file's own path is not a setting
		"UNRELATED=1",
	}

	got, err := loadSettings(Settings{}, file, environ)
	if err != nil {
		t.Fatal(err)
	}
	if got.Port != 9002 || got.AIEnabled || got.LogLevel != "error" ||
		!slices.Equal(got.Origins, []string{"https://a.example.com", "https://b.example.com"}) ||
		got.AdminEmail != "root@example.com" || got.AdminPassword != adminPassword ||
		got.JWTSecret != jwtSecret || got.DatabaseURL != "http://localhost:9002" ||
		got.Clover != (CloverSettings{TenantID: "t-9", Secret: cloverSecret, ServerURL: "http://127.0.0.1:7777"}) {
		t.Fatalf("environment not applied: %#v", got.Settings)
	}
	if got.source("port") != "HAPTA_PORT" || got.source("logLevel") != file.path {
		t.Fatalf("sources: port %q, logLevel %q", got.source("port"), got.source("logLevel"))
	}
}

func TestLocateConfigFile(t *testing.T) {
	t.Setenv(configPathEnv, "")
	if got := locateConfigFile("", ""); got != (configFile{path: DefaultConfigFile}) {
		t.Fatalf("default: %+v", got)
	}
	if got := locateConfigFile("", "go.json"); got != (configFile{path: "go.json", required: true}) {
		t.Fatalf("Config.ConfigFile: %+v", got)
	}
	t.Setenv(configPathEnv, "env.json")
	if got := locateConfigFile("", "go.json"); got != (configFile{path: "env.json", required: true}) {
		t.Fatalf("HAPTA_CONFIG must win over Config.ConfigFile: %+v", got)
	}
	if got := locateConfigFile("flag.json", "go.json"); got != (configFile{path: "flag.json", required: true}) {
		t.Fatalf("--hapta-config must win: %+v", got)
	}
}

// TestLoadSettingsRejectsBadConfiguration covers each way a configuration
// can be wrong: the error names the key and its source, and never a secret.
func TestLoadSettingsRejectsBadConfiguration(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		file    string
		environ []string
		want    []string // substrings of the message
	}{
		{"invalid JSON", "{\n  \"port\": 8090,\n  \"JWT_SECRET\": " + jwtSecret + "\n}", nil,
			[]string{"invalid JSON at line 3, column 17"}},
		{"truncated JSON", `{"port": 8090`, nil, []string{"invalid JSON at line 1", "unexpected end"}},
		{"not an object", `[1, 2]`, nil, []string{"must hold a JSON object"}},
		{"key given twice", `{"port": 8090, "logLevel": "info", "port": 9000}`, nil, []string{`the key "port" is given twice`}},
		{"unknown key", `{"prot": 8090}`, nil, []string{`prot (from `, `unknown key; did you mean "port"?`}},
		{"unknown key, other case", `{"admin_email": "a@b.co"}`, nil, []string{`did you mean "ADMIN_EMAIL"?`}},
		{"port type", `{"port": "8090"}`, nil, []string{"port (from ", `must be an integer, got a string "8090"`}},
		{"port fraction", `{"port": 80.5}`, nil, []string{"port", "must be an integer, got a number 80.5"}},
		{"port null", `{"port": null}`, nil, []string{"port", "got null"}},
		{"port zero", `{"port": 0}`, nil, []string{"port", "must be from 1 to 65535, got 0"}},
		{"port too high", `{"port": 65536}`, nil, []string{"port", "must be from 1 to 65535, got 65536"}},
		{"log level", `{"logLevel": "verbose"}`, nil, []string{"logLevel", `must be debug, info, warn or error, got "verbose"`}},
		{"log level type", `{"logLevel": 3}`, nil, []string{"logLevel", "must be a string"}},
		{"origin with path", `{"origin": "https://app.example.com/"}`, nil, []string{"origin", "is not an origin"}},
		{"origin without scheme", `{"origin": ["localhost:3000"]}`, nil, []string{"origin", `"localhost:3000" is not an origin`}},
		{"origin empty list", `{"origin": []}`, nil, []string{"origin", "at least one origin"}},
		{"origin type", `{"origin": 5}`, nil, []string{"origin", "must be a string or a list of strings, got a number"}},
		{"admin email without password", `{"ADMIN_EMAIL": "a@example.com"}`, nil, []string{"ADMIN_PASSWORD", "set both or neither"}},
		{"admin password without email", `{"ADMIN_PASSWORD": "` + adminPassword + `"}`, nil, []string{"ADMIN_EMAIL", "set both or neither"}},
		{"admin email format", `{"ADMIN_EMAIL": "admin", "ADMIN_PASSWORD": "` + adminPassword + `"}`, nil, []string{"ADMIN_EMAIL", "not an email address"}},
		{"admin password type", `{"ADMIN_EMAIL": "a@example.com", "ADMIN_PASSWORD": 12345678}`, nil, []string{"ADMIN_PASSWORD", "must be a string, got a number"}},
		{"short JWT secret", `{"JWT_SECRET": "short-secret"}`, nil, []string{"JWT_SECRET", "shorter than 32 bytes"}},
		{"JWT secret type", `{"JWT_SECRET": true}`, nil, []string{"JWT_SECRET", "must be a string, got a boolean"}},
		{"database URL", `{"DatabaseUrl": "localhost:8090"}`, nil, []string{"DatabaseUrl", "not an absolute http:// or https:// URL"}},
		{"clover without secret", `{"Clover_Tenant_ID": "t1", "Clover_Server_Url": "https://c.example.com"}`, nil,
			[]string{"Clover_Secret", "required when Clover_Tenant_ID is set"}},
		{"clover without URL", `{"Clover_Tenant_ID": "t1", "Clover_Secret": "` + cloverSecret + `"}`, nil,
			[]string{"Clover_Server_Url", "required when Clover_Tenant_ID is set"}},
		{"clover URL scheme", `{"Clover_Tenant_ID": "t1", "Clover_Secret": "` + cloverSecret + `", "Clover_Server_Url": "clover.example.com"}`, nil,
			[]string{"Clover_Server_Url", "not an absolute http:// or https:// URL"}},
		{"clover secret without tenant", `{"Clover_Secret": "` + cloverSecret + `"}`, nil, []string{"Clover_Secret", "Clover_Tenant_ID is empty"}},
		{"clover URL without tenant", `{"Clover_Server_Url": "https://c.example.com"}`, nil, []string{"Clover_Server_Url", "Clover_Tenant_ID is empty"}},
		{"routes prefix", `{"routes": {"prefix": "js"}}`, nil, []string{"routes", "prefix must be a path starting with /"}},
		{"routes timeout", `{"routes": {"timeout": "soon"}}`, nil, []string{"routes", "timeout must be a positive duration"}},
		{"routes unknown field", `{"routes": {"folder": "x"}}`, nil, []string{"routes", "folder"}},
		{"AI_ENABLED type", `{"AI_ENABLED": "yes"}`, nil, []string{"AI_ENABLED", "must be true or false"}},
		{"env port", `{}`, []string{"HAPTA_PORT=http"}, []string{"port (from HAPTA_PORT)", `must be an integer, got "http"`}},
		{"env port range", `{}`, []string{"HAPTA_PORT=99999"}, []string{"port (from HAPTA_PORT)", "must be from 1 to 65535"}},
		{"env bool", `{}`, []string{"HAPTA_AI_ENABLED=maybe"}, []string{"AI_ENABLED (from HAPTA_AI_ENABLED)", "must be true or false"}},
		{"env unknown", `{}`, []string{"HAPTA_PROT=1"}, []string{"HAPTA_PROT", "did you mean HAPTA_PORT?"}},
		{"cache unknown field", `{"cache": {"collections": {"posts": {"htp": true}}}}`, nil, []string{"cache (from ", `unknown field "htp"`}},
		{"cache type", `{"cache": []}`, nil, []string{"cache (from ", "must be an object"}},
		{"cache too small", `{"cache": {"maxBytes": 1000}}`, nil, []string{"cache", "maxBytes must be at least 1048576"}},
		{"cache size zero", `{"cache": {"maxBytes": 0}}`, nil, []string{"cache", "maxBytes must be at least 1048576 (1 MiB), got 0"}},
		{"cache ttl", `{"cache": {"collections": {"posts": {"ttl": "soon"}}}}`, nil, []string{"cache", "collections.posts.ttl must be a duration"}},
		{"cache ttl bounds", `{"cache": {"minTtl": "10m", "maxTtl": "1m"}}`, nil, []string{"cache", "minTtl 10m is longer than maxTtl 1m"}},
		{"env cache JSON", `{}`, []string{`HAPTA_CACHE={"maxBytes": "big"}`}, []string{"cache (from HAPTA_CACHE)", "must be an object"}},
		{"cluster role", `{"cluster": {"role": "leader", "nats": "embedded"}}`, nil, []string{"cluster (from ", `role must be "primary" or "edge", got "leader"`}},
		{"cluster without nats", `{"cluster": {}}`, nil, []string{"cluster", "nats is required"}},
		{"cluster nats type", `{"cluster": {"nats": 4222}}`, nil, []string{"cluster", "nats must be"}},
		{"cluster nats URL", `{"cluster": {"nats": "localhost:4222"}}`, nil, []string{"cluster", `"localhost:4222" is not a NATS URL`}},
		{"cluster embedded edge", `{"cluster": {"role": "edge", "primary": "http://p:8090", "nats": "embedded"}}`, nil, []string{"cluster", `"embedded" is for the primary`}},
		{"cluster embedded and others", `{"cluster": {"nats": ["embedded", "nats://n:4222"]}}`, nil, []string{"cluster", "cannot be listed with other servers"}},
		{"cluster edge without primary", `{"cluster": {"role": "edge", "nats": "nats://n:4222"}}`, nil, []string{"cluster", "primary is required for an edge"}},
		{"cluster primary URL", `{"cluster": {"role": "edge", "primary": "p:8090", "nats": "nats://n:4222"}}`, nil, []string{"cluster", "primary must be an http:// or https:// URL"}},
		{"cluster primary with a path", `{"cluster": {"role": "edge", "primary": "http://p:8090/api", "nats": "nats://n:4222"}}`, nil, []string{"cluster", "without a path"}},
		{"cluster primary on a primary", `{"cluster": {"primary": "http://p:8090", "nats": "embedded"}}`, nil, []string{"cluster", "primary is only for an edge"}},
		{"cluster listen", `{"cluster": {"nats": "embedded", "natsListen": "4222"}}`, nil, []string{"cluster", "natsListen must be host:port"}},
		{"cluster listen without embedded", `{"cluster": {"nats": "nats://n:4222", "natsListen": ":4222"}}`, nil, []string{"cluster", `natsListen is only for nats "embedded"`}},
		{"cluster lag", `{"cluster": {"nats": "embedded", "maxLag": "10ms"}}`, nil, []string{"cluster", "maxLag must be a duration from 500ms to 1m"}},
		{"cluster unknown field", `{"cluster": {"nats": "embedded", "lag": "1s"}}`, nil, []string{"cluster", `unknown field "lag"`}},
		{"env cluster", `{}`, []string{`HAPTA_CLUSTER={"role": "edge"}`}, []string{"cluster (from HAPTA_CLUSTER)", "nats is required"}},
		{"realtime fanout", `{"realtime": {"fanout": "fast"}}`, nil, []string{"realtime (from ", `fanout must be "grouped" or "pocketbase", got "fast"`}},
		{"realtime queue", `{"realtime": {"queueSize": -1}}`, nil, []string{"realtime", "queueSize must be from 1 to 1000000, got -1"}},
		{"realtime write timeout", `{"realtime": {"writeTimeout": "1ms"}}`, nil, []string{"realtime", "writeTimeout must be a duration from 100ms to 1m"}},
		{"realtime unknown field", `{"realtime": {"queue": 5}}`, nil, []string{"realtime", `unknown field "queue"`}},
		{"env realtime", `{}`, []string{`HAPTA_REALTIME={"fanout": 1}`}, []string{"realtime (from HAPTA_REALTIME)"}},
		{"env short secret", `{}`, []string{"HAPTA_JWT_SECRET=" + jwtSecret[:31]}, []string{"JWT_SECRET (from HAPTA_JWT_SECRET)", "shorter than 32 bytes"}},
	}

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := loadSettings(Settings{}, writeConfig(t, c.file), c.environ)
			if err == nil {
				t.Fatal("accepted a bad configuration")
			}
			var configErr *ConfigError
			if !errors.As(err, &configErr) {
				t.Fatalf("error %T is not a *ConfigError: %v", err, err)
			}
			for _, want := range c.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			assertNoSecret(t, err.Error())
		})
	}
}

func TestLoadSettingsDecodesTheCluster(t *testing.T) {
	t.Parallel()
	got, err := loadSettings(Settings{}, writeConfig(t, `{"cache": {"collections": {"Posts": {"http": true}, "drafts": {}}},
		"cluster": {"nats": "embedded"}}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := got.cluster
	if c == nil || c.Role != cluster.RolePrimary || !c.Embedded || c.EmbeddedListen != "127.0.0.1:4222" ||
		c.MaxLag != 2*time.Second || c.ReadWait != time.Second || !maps.Equal(c.Cached, map[string]bool{"posts": true}) {
		t.Fatalf("primary: %+v", c)
	}
	got, err = loadSettings(Settings{}, writeConfig(t, `{}`), []string{
		`HAPTA_CLUSTER={"role": "edge", "primary": "https://primary.example.com", "nats": "tls://n1:4222"}`})
	if err != nil {
		t.Fatal(err)
	}
	if c = got.cluster; c == nil || c.Role != cluster.RoleEdge || c.Primary.String() != "https://primary.example.com" ||
		c.Embedded || !slices.Equal(c.NATS, []string{"tls://n1:4222"}) {
		t.Fatalf("edge: %+v", c)
	}
	if got, _ := loadSettings(Settings{}, writeConfig(t, `{}`), nil); got.cluster != nil {
		t.Fatalf("no cluster object, yet a cluster: %+v", got.cluster)
	}
}

func TestLoadSettingsRequiresANamedFile(t *testing.T) {
	t.Parallel()
	missing := configFile{path: filepath.Join(t.TempDir(), "missing.json"), required: true}

	_, err := loadSettings(Settings{}, missing, nil)
	if err == nil || !strings.Contains(err.Error(), "missing.json: cannot read the file: no such file") {
		t.Fatalf("a named but missing file must be an error, got %v", err)
	}
}

// assertNoSecret fails when text holds one of the test secrets or a part.
func assertNoSecret(t *testing.T, text string) {
	t.Helper()
	for _, secret := range []string{adminPassword, jwtSecret, jwtSecret[:31], cloverSecret, "12345678"} {
		if strings.Contains(text, secret) {
			t.Fatalf("secret %q leaked into %q", secret, text)
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	t.Parallel()
	s := Settings{JWTSecret: jwtSecret, AdminPassword: adminPassword, Clover: CloverSettings{Secret: cloverSecret}}
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		assertNoSecret(t, fmt.Sprintf(format, s))
		assertNoSecret(t, fmt.Sprintf(format, s.JWTSecret))
	}
	if s.JWTSecret.Reveal() != jwtSecret {
		t.Fatal("Reveal must return the value")
	}
}

func TestNearest(t *testing.T) {
	t.Parallel()
	keys := []string{"port", "logLevel", "origin", "DatabaseUrl"}
	for name, want := range map[string]string{"prot": "port", "loglevel": "logLevel", "origins": "origin", "databaseURL": "DatabaseUrl"} {
		if got := nearest(name, keys); got != want {
			t.Errorf("nearest(%q) = %q, want %q", name, got, want)
		}
	}
}
