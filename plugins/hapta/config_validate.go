package hapta

import (
	"fmt"
	"strings"
	"time"

	"github.com/pocketbase/ozzo-validation/v4/is"

	"github.com/postr-inc/hapta/plugins/hapta/internal/recordcache"
)

// validate checks every key and normalizes the log level; the first problem
// is returned, naming its key.
func (l *loadedSettings) validate() error {
	checks := []struct {
		key   string
		check func() string // the problem, or "" when fine
	}{
		{"port", l.checkPort},
		{"logLevel", l.checkLogLevel},
		{"origin", l.checkOrigins},
		{"ADMIN_EMAIL", l.checkAdminEmail},
		{"ADMIN_PASSWORD", l.checkAdminPassword},
		{"JWT_SECRET", l.checkJWTSecret},
		{"DatabaseUrl", func() string { return checkOptionalURL(l.DatabaseURL) }},
		{"Clover_Secret", func() string { return l.checkCloverKey(l.Clover.Secret != "") }},
		{"Clover_Server_Url", l.checkCloverServerURL},
		{"cache", l.checkCache},
		{"routes", l.checkRoutes},
		{"cluster", l.checkCluster}, // after cache, whose collections it reads
		{"realtime", l.checkRealtime},
	}
	for _, c := range checks {
		if problem := c.check(); problem != "" {
			return &ConfigError{Key: c.key, Source: l.source(c.key), Problem: problem}
		}
	}
	return nil
}

func (l *loadedSettings) checkPort() string {
	if l.Port < 1 || l.Port > 65535 {
		return fmt.Sprintf("must be from 1 to 65535, got %d", l.Port)
	}
	return ""
}

func (l *loadedSettings) checkLogLevel() string {
	level := strings.ToLower(l.LogLevel)
	if _, ok := logLevels[level]; !ok {
		return fmt.Sprintf("must be debug, info, warn or error, got %q", l.LogLevel)
	}
	l.LogLevel = level
	return ""
}

func (l *loadedSettings) checkOrigins() string {
	if len(l.Origins) == 0 {
		return `must name at least one origin, or "*" for any`
	}
	for _, origin := range l.Origins {
		if origin == anyOrigin {
			continue
		}
		scheme, rest, ok := strings.Cut(origin, "://")
		if !ok || (scheme != "http" && scheme != "https") || rest == "" ||
			strings.ContainsAny(rest, "/?# \t") {
			return fmt.Sprintf(`%q is not an origin: use "*" or scheme://host[:port] with no path, like "https://app.example.com"`, origin)
		}
	}
	return ""
}

func (l *loadedSettings) checkAdminEmail() string {
	switch {
	case l.AdminEmail == "" && l.AdminPassword != "":
		return "is empty but ADMIN_PASSWORD is set; set both or neither"
	case l.AdminEmail != "" && is.EmailFormat.Validate(l.AdminEmail) != nil:
		return fmt.Sprintf("%q is not an email address", l.AdminEmail)
	}
	return ""
}

func (l *loadedSettings) checkAdminPassword() string {
	if l.AdminEmail != "" && l.AdminPassword == "" {
		return "is empty but ADMIN_EMAIL is set; set both or neither"
	}
	return ""
}

func (l *loadedSettings) checkJWTSecret() string {
	if l.JWTSecret == "" || l.JWTSecret == generatedSecret {
		return ""
	}
	if len(l.JWTSecret) < minJWTSecretLen {
		return fmt.Sprintf(`is shorter than %d bytes; use a longer secret, or "*" to have one generated`, minJWTSecretLen)
	}
	return ""
}

// checkCloverKey checks that a Clover key is set exactly when the tenant id is.
func (l *loadedSettings) checkCloverKey(set bool) string {
	switch {
	case !l.Clover.Enabled() && set:
		return "is set but Clover_Tenant_ID is empty; set the tenant id to use Clover, or clear this key"
	case l.Clover.Enabled() && !set:
		return "is required when Clover_Tenant_ID is set"
	}
	return ""
}

func (l *loadedSettings) checkCloverServerURL() string {
	if problem := l.checkCloverKey(l.Clover.ServerURL != ""); problem != "" {
		return problem
	}
	return checkOptionalURL(l.Clover.ServerURL)
}

// checkCache checks the cache's sizes and durations, and decodes them once
// into l.cache.
func (l *loadedSettings) checkCache() string {
	c := &l.Cache
	if c.MaxBytes < minCacheMaxBytes {
		return fmt.Sprintf("maxBytes must be at least %d (1 MiB), got %d", minCacheMaxBytes, c.MaxBytes)
	}
	minTTL, problem := parseTTL("minTtl", c.MinTTL)
	if problem != "" {
		return problem
	}
	maxTTL, problem := parseTTL("maxTtl", c.MaxTTL)
	if problem != "" {
		return problem
	}
	if minTTL > maxTTL {
		return fmt.Sprintf("minTtl %s is longer than maxTtl %s", c.MinTTL, c.MaxTTL)
	}
	l.cache = recordcache.Config{MaxBytes: uint64(c.MaxBytes), MinTTL: minTTL, MaxTTL: maxTTL, Collections: map[string]recordcache.Policy{}}
	for name, collection := range c.Collections {
		if name == "" {
			return "collections: a collection name is empty"
		}
		policy := recordcache.Policy{HTTP: collection.HTTP} // a TTL of 0 is dynamic
		if collection.TTL != "" && collection.TTL != dynamicTTL {
			if policy.TTL, problem = parseTTL("collections."+name+".ttl", collection.TTL); problem != "" {
				return problem + ` (or "dynamic")`
			}
		}
		l.cache.Collections[name] = policy
	}
	return ""
}

// parseTTL reads a duration from 1s to 24h.
func parseTTL(name, text string) (time.Duration, string) {
	d, err := time.ParseDuration(text)
	if err != nil || d < time.Second || d > 24*time.Hour {
		return 0, fmt.Sprintf("%s must be a duration from 1s to 24h such as \"30s\", got %q", name, text)
	}
	return d, ""
}

func (l *loadedSettings) checkRoutes() string {
	r := l.Routes
	if r.Prefix != "" && (!strings.HasPrefix(r.Prefix, "/") || strings.ContainsAny(r.Prefix, "{} ")) {
		return fmt.Sprintf("prefix must be a path starting with /, got %q", r.Prefix)
	}
	if r.Timeout != "" {
		if timeout, err := time.ParseDuration(r.Timeout); err != nil || timeout <= 0 {
			return fmt.Sprintf("timeout must be a positive duration such as \"10s\", got %q", r.Timeout)
		}
	}
	if r.VMs < 0 {
		return fmt.Sprintf("vms must not be negative, got %d", r.VMs)
	}
	return ""
}

// parseBoundedDuration reads a duration key's text (fallback when empty)
// between least and a minute; the problem names the key.
func parseBoundedDuration(name, text, fallback string, least time.Duration) (time.Duration, string) {
	if text == "" {
		text = fallback
	}
	d, err := time.ParseDuration(text)
	if err != nil || d < least || d > time.Minute {
		return 0, fmt.Sprintf("%s must be a duration from %s to 1m such as %q, got %q", name, least, fallback, text)
	}
	return d, ""
}
