package hapta

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/postr-inc/hapta/plugins/hapta/internal/cluster"
)

// ClusterSettings make this process one node of several (key `cluster`,
// HAPTA_CLUSTER as JSON): the primary, which is the SQLite writer, or an
// edge that serves cached record reads and forwards the rest to its
// primary. No `cluster` object: a single node, no NATS.
type ClusterSettings struct {
	// Role is "primary" (the default) or "edge".
	Role string `json:"role"`
	// Primary is the primary's URL (an edge's).
	Primary string `json:"primary"`
	// NATS are the NATS servers' URLs, or "embedded" on the primary: a
	// NATS server with JetStream in process, listening on NATSListen.
	NATS NATSServers `json:"nats"`
	// NATSListen is the embedded server's address; default 127.0.0.1:4222.
	NATSListen string `json:"natsListen"`
	// MaxLag is how long an edge may be behind the primary before it
	// forwards every read; default 2s.
	MaxLag string `json:"maxLag"`
	// ReadWait is how long an edge waits for a reader's own write to
	// arrive before forwarding its read; default 1s.
	ReadWait string `json:"readWait"`
}

// NATSServers are NATS URLs: "embedded", one URL, or a list of them.
type NATSServers []string

func (n *NATSServers) UnmarshalJSON(data []byte) error {
	var one string
	if json.Unmarshal(data, &one) == nil {
		*n = NATSServers{one}
		return nil
	}
	var list []string
	if err := json.Unmarshal(data, &list); err != nil {
		return fmt.Errorf(`nats must be "embedded", a URL or a list of URLs`)
	}
	*n = list
	return nil
}

const (
	embeddedNATS              = "embedded"
	defaultEmbeddedNATSListen = "127.0.0.1:4222"
	defaultClusterMaxLag      = "2s"
	defaultClusterReadWait    = "1s"
	minClusterMaxLag          = 500 * time.Millisecond
)

var natsSchemes = map[string]bool{"nats": true, "tls": true, "ws": true, "wss": true}

// clusterKey is the `cluster` object.
func clusterKey() settingKey {
	return objectKey("cluster", `an object such as {"role": "edge", "primary": "http://10.0.0.1:8090", "nats": ["nats://10.0.0.1:4222"]}`,
		func(s *Settings) **ClusterSettings { return &s.Cluster }, func() *ClusterSettings { return &ClusterSettings{} })
}

// checkCluster checks the cluster object and decodes it into l.cluster.
func (l *loadedSettings) checkCluster() string {
	c := l.Cluster
	if c == nil {
		return ""
	}
	config := cluster.Config{Role: cluster.Role(c.Role), EmbeddedListen: c.NATSListen}
	if config.Role == "" {
		config.Role = cluster.RolePrimary
	}
	if config.Role != cluster.RolePrimary && config.Role != cluster.RoleEdge {
		return fmt.Sprintf(`role must be "primary" or "edge", got %q`, c.Role)
	}
	if len(c.NATS) == 0 {
		return `nats is required: "embedded" (on the primary) or the NATS servers' URLs`
	}
	for _, server := range c.NATS {
		switch {
		case server == embeddedNATS && config.Role == cluster.RoleEdge:
			return `nats "embedded" is for the primary; an edge lists the URL of the primary's NATS (natsListen), such as "nats://127.0.0.1:4222"`
		case server == embeddedNATS && len(c.NATS) > 1:
			return `nats "embedded" cannot be listed with other servers`
		case server == embeddedNATS:
			config.Embedded = true
		default:
			u, err := url.Parse(server)
			if err != nil || u.Host == "" || !natsSchemes[u.Scheme] {
				return fmt.Sprintf(`nats: %q is not a NATS URL such as "nats://127.0.0.1:4222"`, server)
			}
			config.NATS = append(config.NATS, server)
		}
	}
	if config.Embedded {
		if config.EmbeddedListen == "" {
			config.EmbeddedListen = defaultEmbeddedNATSListen
		}
		if _, _, err := net.SplitHostPort(config.EmbeddedListen); err != nil {
			return fmt.Sprintf(`natsListen must be host:port such as "127.0.0.1:4222", got %q`, c.NATSListen)
		}
	} else if c.NATSListen != "" {
		return `natsListen is only for nats "embedded"`
	}
	switch {
	case config.Role == cluster.RoleEdge && c.Primary == "":
		return `primary is required for an edge: the primary's URL, such as "http://127.0.0.1:8090"`
	case config.Role == cluster.RoleEdge:
		u, err := url.Parse(c.Primary)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "" {
			return fmt.Sprintf(`primary must be an http:// or https:// URL without a path, got %q`, c.Primary)
		}
		config.Primary = u
	case c.Primary != "":
		return "primary is only for an edge"
	}
	var problem string
	if config.MaxLag, problem = parseBoundedDuration("maxLag", c.MaxLag, defaultClusterMaxLag, minClusterMaxLag); problem != "" {
		return problem
	}
	if config.ReadWait, problem = parseBoundedDuration("readWait", c.ReadWait, defaultClusterReadWait, 0); problem != "" {
		return problem
	}
	config.MaxBytes, config.Cached = l.cache.MaxBytes, map[string]bool{}
	config.MaxTTL = l.cache.MaxTTL
	for name, policy := range l.cache.Collections {
		if policy.HTTP {
			config.Cached[strings.ToLower(name)] = true
		}
	}
	l.cluster = &config
	return ""
}

// clusterStoreDir is where the embedded NATS server keeps its stream.
func clusterStoreDir(dataDir string) string { return filepath.Join(dataDir, "nats") }
