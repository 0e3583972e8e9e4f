package hapta

import "time"

// Config configures the hapta plugin.
//
// The embedded Settings are the values set in Go; hapta-config.json
// overrides them key by key, and HAPTA_<KEY> environment variables override
// the file. Zero values mean the documented defaults.
type Config struct {
	Settings

	// ConfigFile is the path of the JSON configuration file. When empty the
	// path comes from the --hapta-config flag (given a root command), then from the
	// HAPTA_CONFIG environment variable; without either, ./hapta-config.json
	// is read if it exists.
	ConfigFile string

	// Lockout limits failed logins per account (Go only; see LockoutConfig).
	Lockout LockoutConfig

	// Units bound the database service's units of work (Go only; see
	// UnitLimits).
	Units UnitLimits

	// Defer configures deferred writes (Go only; see DeferLimits).
	Defer DeferLimits

	// CloverPollEvery is how often a Clover client reads its server's
	// revoked token ids and checks its health (Go only; default 10s).
	CloverPollEvery time.Duration
}

// Settings are the values of hapta-config.json's keys, after the file and
// the environment were applied.
type Settings struct {
	// Port is the listen port of `serve` when --http is not given (key
	// `port`, default 8090). The host stays PocketBase's 127.0.0.1.
	Port int

	// LogLevel is debug, info, warn or error (key `logLevel`, default info):
	// PocketBase's minimum log level and hapta's.
	LogLevel string

	// Origins are the CORS origins allowed on every response (key `origin`,
	// a string or a list; default "*").
	Origins []string

	// AdminEmail and AdminPassword, when both set, make sure a superuser with
	// that email exists when the server starts (keys ADMIN_EMAIL and
	// ADMIN_PASSWORD). An existing superuser is never changed.
	AdminEmail    string
	AdminPassword Secret

	// JWTSecret signs hapta's own tokens (key JWT_SECRET). Empty or "*"
	// means a random secret generated once and kept in pb_data.
	JWTSecret Secret

	// DatabaseURL is the public URL of this PocketBase (key DatabaseUrl). It
	// becomes PocketBase's Application URL setting; empty leaves that alone.
	DatabaseURL string

	// Clover is the remote Clover identity server; empty TenantID disables it.
	Clover CloverSettings

	// AIEnabled (key AI_ENABLED) asks for AI features, which this build
	// does not have: true only logs a warning at start.
	AIEnabled bool

	// Cache is the record cache (key `cache`).
	Cache CacheSettings

	// Routes are the JavaScript routes (key `routes`).
	Routes RoutesSettings

	// Cluster makes this process a node of several (key `cluster`); nil
	// for a single node.
	Cluster *ClusterSettings

	// Realtime is how record events reach realtime subscribers (key
	// `realtime`).
	Realtime RealtimeSettings
}

// RoutesSettings configure the JavaScript routes of a routes folder.
type RoutesSettings struct {
	// Dir is the routes folder; default pb_routes beside pb_data (as
	// pb_hooks is). A relative path is relative to the working directory.
	Dir string `json:"dir"`
	// Prefix goes before every route's path ("" or "/js", say).
	Prefix string `json:"prefix"`
	// Reload runs edited, added and removed route files without a restart;
	// unset means on in dev mode (--dev) and when run from source (go run).
	Reload *bool `json:"reload"`
	// Timeout interrupts a handler that runs longer (504); default 10s.
	Timeout string `json:"timeout"`
	// VMs is how many handlers run at once; default twice the CPUs.
	VMs int `json:"vms"`
}

// CacheSettings configure the record cache: which collections it keeps,
// whether PocketBase's own GET record endpoints use it, and its bounds.
type CacheSettings struct {
	MaxBytes    int64                              `json:"maxBytes"` // default 64 MiB
	MinTTL      string                             `json:"minTtl"`   // the dynamic TTL's bounds: default 1s
	MaxTTL      string                             `json:"maxTtl"`   // and 5m
	Collections map[string]CollectionCacheSettings `json:"collections"`
}

// CollectionCacheSettings configure the cache of one collection.
type CollectionCacheSettings struct {
	HTTP bool   `json:"http"` // also cache PocketBase's GET /api/collections/{c}/records[/{id}]
	TTL  string `json:"ttl"`  // "dynamic" (the default) or a duration such as "30s"
}

// CloverSettings locate this application's tenant on a Clover server.
type CloverSettings struct {
	TenantID  string // key Clover_Tenant_ID
	Secret    Secret // key Clover_Secret
	ServerURL string // key Clover_Server_Url

	// Serve makes this application a Clover identity server (key
	// Clover_Serve; the clover plugin serves it).
	Serve bool
}

// Enabled reports whether a Clover tenant is configured.
func (c CloverSettings) Enabled() bool { return c.TenantID != "" }

const (
	defaultPort     = 8090
	defaultLogLevel = "info"
	anyOrigin       = "*"

	// generatedSecret asks for a JWT secret generated once and kept in pb_data.
	generatedSecret = "*"
	minJWTSecretLen = 32

	defaultCacheMaxBytes = 64 << 20
	minCacheMaxBytes     = 1 << 20
	defaultCacheMinTTL   = "1s"
	defaultCacheMaxTTL   = "5m"
	dynamicTTL           = "dynamic"
)

// withDefaults fills the zero values that have a default.
func (s Settings) withDefaults() Settings {
	if s.Port == 0 {
		s.Port = defaultPort
	}
	if s.LogLevel == "" {
		s.LogLevel = defaultLogLevel
	}
	if s.Origins == nil {
		s.Origins = []string{anyOrigin}
	}
	s.Cache = s.Cache.withDefaults()
	return s
}

// withDefaults fills the cache's zero values that have a default: for the
// Go value, and under a `cache` object before the file's keys are decoded
// into it (a key the file sets, zero included, is then checked as set).
func (c CacheSettings) withDefaults() CacheSettings {
	if c.MaxBytes == 0 {
		c.MaxBytes = defaultCacheMaxBytes
	}
	if c.MinTTL == "" {
		c.MinTTL = defaultCacheMinTTL
	}
	if c.MaxTTL == "" {
		c.MaxTTL = defaultCacheMaxTTL
	}
	return c
}
