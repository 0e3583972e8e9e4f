package hapta

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/spf13/cobra"

	"github.com/postr-inc/hapta/plugins/hapta/internal/cluster"
	"github.com/postr-inc/hapta/plugins/hapta/internal/inproc"
	"github.com/postr-inc/hapta/plugins/hapta/internal/realtime"
	"github.com/postr-inc/hapta/plugins/hapta/internal/recordcache"
)

// MustRegister registers the hapta plugin and panics if that fails.
func MustRegister(app core.App, rootCmd *cobra.Command, config Config) {
	if err := Register(app, rootCmd, config); err != nil {
		panic(err)
	}
}

// Register registers the hapta plugin. The configuration is read and
// checked when the app bootstraps (at once if it already has), so a bad
// configuration makes app.Start return an error before anything is served.
//
// rootCmd is the application's root command (app.RootCmd), as PocketBase's
// migratecmd takes it: hapta adds its --hapta-config flag and makes `port`
// and `origin` the defaults of `serve` (an explicit --http or --origins
// wins). It may be nil for an app without commands.
func Register(app core.App, rootCmd *cobra.Command, config Config) error {
	_, err := register(app, rootCmd, config, os.Stderr)
	return err
}

// register is Register with the writer for hapta's console log lines.
func register(app core.App, rootCmd *cobra.Command, config Config, console io.Writer) (*plugin, error) {
	p := &plugin{config: config, console: console, routes: &routeRegistry{}}
	if app.Store().Has(pluginKey) {
		return nil, errors.New("hapta: the plugin is already registered on this app")
	}
	app.Store().Set(pluginKey, p)

	flagPath := ""
	if rootCmd != nil {
		if rootCmd.PersistentFlags().Lookup(configFlag) != nil {
			return nil, errors.New("hapta: the --" + configFlag + " flag is already defined; register the plugin once")
		}
		flagPath = addConfigFlag(rootCmd, os.Args[1:])
		beforeCommand(rootCmd, p.adjustServe)
	}
	p.file = locateConfigFile(flagPath, config.ConfigFile)

	app.OnBootstrap().BindFunc(p.onBootstrap)
	app.OnServe().BindFunc(p.onServe)

	if app.IsBootstrapped() {
		if err := p.loadSettings(); err != nil {
			return nil, err
		}
		if err := p.setUp(app); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// pluginKey keeps the plugin in the app's store, for Handle.
const pluginKey = "hapta.plugin"

// pluginOf returns the hapta plugin registered on app. Handle needs it: a
// route registered without the plugin is a programming error.
func pluginOf(app core.App) *plugin {
	p, ok := app.Store().Get(pluginKey).(*plugin)
	if !ok {
		panic("hapta: register the plugin (hapta.MustRegister) before adding routes with hapta.Handle")
	}
	return p
}

// ServicesOf returns hapta's services for Go code that runs without a
// request (a cron job, a command, a hook).
func ServicesOf(app core.App) Services {
	return pluginOf(app).services(app)
}

// SettingsOf returns the settings hapta loaded for app (hapta-config.json
// over the Go values): zero values before the app bootstraps. Other plugins
// read their keys here (clover reads Clover_Serve).
func SettingsOf(app core.App) Settings {
	if p, ok := app.Store().Get(pluginKey).(*plugin); ok && p.settings != nil {
		return p.settings.Settings
	}
	return Settings{}
}

// Registered reports whether the hapta plugin is registered on app.
func Registered(app core.App) bool {
	_, ok := app.Store().Get(pluginKey).(*plugin)
	return ok
}

func (p *plugin) services(app core.App) Services {
	if p.database == nil { // before the app bootstraps: zero services
		return Services{App: app, Logger: p.logger, Tokens: &Tokens{}, Authenticate: &Authenticator{}, DB: &Database{}}
	}
	// a handle of its own for each caller: batch mode is the handle's
	return Services{App: app, Logger: p.logger, Tokens: p.tokens, Authenticate: p.authenticate, DB: p.database.actingAs(nil)}
}

type plugin struct {
	config  Config
	file    configFile
	console io.Writer // where hapta's log lines are printed outside dev mode

	// set when the app bootstraps
	settings     *loadedSettings
	tokens       *Tokens
	authenticate *Authenticator
	database     *Database
	deferred     *deferredWriter
	cache        *recordcache.Cache
	logger       *slog.Logger

	// set by the serve command when --origins was given explicitly
	originsFromFlag bool

	// the routes added with Handle, and their OpenAPI document
	routes  *routeRegistry
	openAPI *openAPIDocument

	// the JavaScript routes being served, nil for none
	jsRoutes *jsRoutes

	// hapta's realtime fan-out; nil for PocketBase's own
	realtime *realtime.Broadcaster

	// this node's part in its cluster: at most one is set
	primary *cluster.Primary
	edge    *cluster.Edge
}

func (p *plugin) onBootstrap(e *core.BootstrapEvent) error {
	// read before PocketBase opens its databases: a bad configuration stops here
	if err := p.loadSettings(); err != nil {
		return err
	}
	if err := e.Next(); err != nil {
		return err
	}
	return p.setUp(e.App)
}

func (p *plugin) loadSettings() error {
	settings, err := loadSettings(p.config.Settings, p.file, os.Environ())
	if err != nil {
		return err
	}
	p.settings = settings
	return nil
}

// setUp applies the settings that need the bootstrapped app.
func (p *plugin) setUp(app core.App) error {
	secret, err := resolveJWTSecret(p.settings.JWTSecret, app.DataDir())
	if err != nil {
		return err
	}
	p.tokens = &Tokens{app: app, secret: secret}

	if err := applyPocketBaseSettings(app, p.settings.Settings); err != nil {
		return err
	}

	p.logger = newLogger(app, logLevels[p.settings.LogLevel], p.console)
	if p.cache == nil { // one cache for the life of the process
		config := p.settings.cache
		config.OwnReadHandlers = inproc.DryRunReadHandlers // bound below, for reads through a unit
		p.cache = recordcache.New(app, config)
		p.logCacheStats(app)
	}
	p.authenticate = &Authenticator{
		app:      app,
		internal: inproc.New(app, false, p.cache.Middleware(true)),
		lockout:  newLockout(p.config.Lockout),
		oauth2:   &oauth2States{states: map[string]oauth2State{}},
	}
	if p.realtime == nil && p.settings.realtime != nil { // one for the life of the process
		p.realtime = realtime.Bind(app, *p.settings.realtime)
	}
	inproc.BindDryRunReads(app) // the reads through a unit of work
	internal := inproc.New(app, true, p.cache.Middleware(true))
	if p.deferred == nil { // one writer of the journal for the life of the process
		p.deferred = newDeferredWriter(app, internal, p.config.Defer, p.logger)
	}
	p.database = &Database{internal: internal, limits: p.config.Units, deferred: p.deferred}
	p.cache.CountRateLimitsWith(p.database.internal)
	p.logger.Debug("configuration loaded", "file", p.file.path, "settings", p.settings.Settings)
	return nil
}

func (p *plugin) onServe(se *core.ServeEvent) error {
	if !p.originsFromFlag {
		// same id as PocketBase's default CORS middleware, which it replaces
		se.Router.Bind(apis.CORS(apis.CORSConfig{
			AllowOrigins:  p.settings.Origins,
			ExposeHeaders: []string{RequestIDHeader},
		}))
	}
	se.Router.Bind(requestIDMiddleware())
	if p.realtime != nil {
		se.Router.Bind(p.realtime.Middleware(RealtimeMiddlewareId, RequestIDMiddlewarePriority))
		p.realtime.SealAfterRouter() // PocketBase's router has bound its broadcasts by now
	}
	se.Router.Bind(p.tokens.middleware())
	se.Router.Bind(p.authenticate.lockout.middleware())
	p.openAPI = &openAPIDocument{} // built from the routes of this start
	se.Router.GET(OpenAPIPath, p.serveOpenAPI)
	serveBatch(se)
	if err := p.serveCache(se); err != nil {
		return err
	}
	if err := p.deferred.start(); err != nil { // the app's migrations have run
		return fmt.Errorf("hapta: deferred writes: %w", err)
	}
	se.App.OnTerminate().BindFunc(func(e *core.TerminateEvent) error {
		p.deferred.stop() // apply what was accepted before the app closes
		return e.Next()
	})

	if err := p.serveJSRoutes(se); err != nil {
		return err
	}
	if p.settings.cluster != nil {
		if err := p.startCluster(se); err != nil {
			return fmt.Errorf("hapta: cluster: %w", err)
		}
	}
	if p.settings.Clover.Enabled() {
		if err := p.startClover(se); err != nil {
			return fmt.Errorf("hapta: clover: %w", err)
		}
	}

	created, err := ensureSuperuser(se.App, p.settings)
	if err != nil {
		return err
	}
	if created {
		p.logger.Info("created the ADMIN_EMAIL superuser", "email", p.settings.AdminEmail)
	}

	if p.settings.AIEnabled {
		p.logger.Warn("AI_ENABLED is true, but this build of Hapta has no AI features; the setting has no effect")
	}

	if err := se.Next(); err != nil {
		return err
	}
	// the other OnServe hooks have added their routes by now
	return p.routes.err()
}
