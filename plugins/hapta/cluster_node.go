package hapta

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/security"

	"github.com/postr-inc/hapta/plugins/hapta/internal/cluster"
)

// The cluster's middlewares: ClusterSeqMiddlewareId gives a primary's
// answers their stream sequence (X-Hapta-Seq); ClusterEdgeMiddlewareId
// answers an edge's every request (from its cache or its primary) but its
// health and statistics, right after the request id and CORS.
const (
	ClusterSeqMiddlewareId       = "haptaClusterSeq"
	ClusterSeqMiddlewarePriority = RequestIDMiddlewarePriority - 1
	ClusterEdgeMiddlewareId      = "haptaClusterEdge"
	ClusterHealthMiddlewareId    = "haptaClusterHealth"
)

// ClusterSeqHeader carries the primary's stream sequence: on every answer
// of the primary, and on a read that must see that sequence's writes.
const ClusterSeqHeader = cluster.SeqHeader

// startCluster makes this process a node of its cluster: the primary
// publishes its cache's invalidations and answers edges' identity checks;
// an edge answers record reads from its cache and forwards the rest.
func (p *plugin) startCluster(se *core.ServeEvent) error {
	config := *p.settings.cluster
	var status func() any
	var node interface{ Close() }
	switch config.Role {
	case cluster.RolePrimary:
		config.StoreDir = clusterStoreDir(se.App.DataDir())
		primary, err := cluster.StartPrimary(config, p.cache.Versions(), p.logger)
		if err != nil {
			return err
		}
		p.primary, node, status = primary, primary, func() any { return primary.Status() }
		se.Router.Bind(primary.SeqMiddleware(ClusterSeqMiddlewareId, ClusterSeqMiddlewarePriority))
		se.Router.GET(cluster.IdentityPath, p.serveIdentity)
		p.shareState(primary)
		if err := trustForwardedFor(se.App); err != nil {
			return err
		}
	case cluster.RoleEdge:
		edge, err := cluster.StartEdge(config, p.logger)
		if err != nil {
			return err
		}
		p.edge, node, status = edge, edge, func() any { return edge.Status() }
		// at the CORS middleware's priority, bound after it: runs after it
		se.Router.Bind(edge.Middleware(ClusterEdgeMiddlewareId, apis.DefaultCorsMiddlewarePriority, CacheStatsPath))
	}
	se.App.OnTerminate().BindFunc(func(e *core.TerminateEvent) error {
		node.Close()
		return e.Next()
	})
	se.Router.Bind(healthMiddleware(ClusterHealthMiddlewareId, "cluster", status))
	p.logger.Info("cluster node started", "role", config.Role)
	return nil
}

// serveIdentity tells an edge who a request's token is (PocketBase's,
// hapta's or Clover's, as the token middlewares found it), with the
// counter whose bump voids that answer and the token's expiry.
func (p *plugin) serveIdentity(e *core.RequestEvent) error {
	e.Response.Header().Set("Cache-Control", "no-store")
	if e.Auth == nil {
		return e.JSON(http.StatusOK, cluster.Identity{Anonymous: true})
	}
	identity := cluster.Identity{
		CollectionID: e.Auth.Collection().Id,
		ID:           e.Auth.Id,
		Superuser:    e.Auth.IsSuperuser(),
		Ref:          p.cache.Versions().RecordRef(e.Auth.Collection().Id, e.Auth.Id),
	}
	token := strings.TrimPrefix(e.Request.Header.Get("Authorization"), "Bearer ")
	if claims, err := security.ParseUnverifiedJWT(token); err == nil {
		if exp, ok := claims["exp"].(float64); ok {
			identity.Expires = int64(exp)
		}
	}
	return e.JSON(http.StatusOK, identity)
}

// trustForwardedFor makes the primary read a client's address from the
// X-Forwarded-For its edges set (the rightmost address, the one the edge
// saw), unless the trusted-proxy setting says otherwise already: rate
// limits and the lockout then count per client, not per edge.
func trustForwardedFor(app core.App) error {
	settings := app.Settings()
	if len(settings.TrustedProxy.Headers) > 0 {
		return nil
	}
	settings.TrustedProxy.Headers = []string{"X-Forwarded-For"}
	settings.TrustedProxy.UseLeftmostIP = false
	if err := app.Save(settings); err != nil {
		return fmt.Errorf("hapta: cluster: trusting X-Forwarded-For: %w", err)
	}
	return nil
}
