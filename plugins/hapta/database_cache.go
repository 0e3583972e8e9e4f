package hapta

import (
	"fmt"
	"net/http"

	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/plugins/hapta/internal/cluster"
	"github.com/postr-inc/hapta/plugins/hapta/internal/recordcache"
)

// CacheStatsPath serves the record cache's statistics to superusers.
const CacheStatsPath = "/api/hapta/cache/stats"

// CacheHeader says how a cached endpoint answered: HIT, MISS, or BYPASS
// when PocketBase answered the request itself.
const CacheHeader = recordcache.Header

// serveCache adds the HTTP cache of PocketBase's record endpoints, the
// verified auth tokens kept when any collection is cached, and the
// statistics route. A configured collection that does not exist (renamed
// or deleted in the admin UI) is only a warning: its entry applies once a
// collection of that name exists, in any letter case.
func (p *plugin) serveCache(se *core.ServeEvent) error {
	for name := range p.settings.Cache.Collections {
		if _, err := se.App.FindCachedCollectionByNameOrId(name); err != nil {
			p.logger.Warn(fmt.Sprintf("cache.collections.%s (from %s): there is no such collection yet; its entry applies once there is", name, p.settings.source("cache")))
		}
	}
	se.Router.Bind(p.cache.Middleware(false))
	if len(p.settings.Cache.Collections) > 0 {
		// in place of PocketBase's token loader (same id)
		se.Router.Bind(p.cache.AuthTokens().Middleware())
	}
	Handle(se, "GET "+CacheStatsPath, func(ctx *Context, _ struct{}) error {
		if p.primary != nil {
			return ctx.JSON(http.StatusOK, struct {
				recordcache.Stats
				Cluster cluster.PrimaryStatus `json:"cluster"`
			}{p.cache.Stats(), p.primary.Status()})
		}
		return ctx.JSON(http.StatusOK, p.cache.Stats())
	}, RequireSuperuser(), Summary("The record cache's statistics (a cluster's edge answers its own)"), Tags("hapta"))
	return nil
}

// logCacheStats writes the statistics to the debug log every minute.
func (p *plugin) logCacheStats(app core.App) {
	app.Cron().MustAdd("haptaCacheStats", "* * * * *", func() {
		stats := p.cache.Stats()
		p.logger.Debug("record cache", "hits", stats.Hits, "misses", stats.Misses, "loads", stats.Loads,
			"evictions", stats.Evictions, "invalidations", stats.Invalidations, "bytes", stats.Bytes, "entries", stats.Entries)
	})
}
