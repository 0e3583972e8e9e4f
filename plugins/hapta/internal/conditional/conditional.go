// Package conditional is HTTP revalidation (RFC 9110, 8.8.3 and 13.1.2)
// and content-coding negotiation for answers computed whole: a strong ETag
// from an answer's bytes, If-None-Match, the Cache-Control that keeps
// clients revalidating, and whether a client accepts gzip.
package conditional

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
)

// Tag names body's content: equal bytes, equal tags, whatever computed
// them (another node, another process).
func Tag(body []byte) string {
	sum := sha256.Sum256(body)
	return base64.RawURLEncoding.EncodeToString(sum[:15])
}

// ETag is the strong entity tag of a representation of the content that
// tag names; suffix names the representation (a content coding), which
// RFC 9110 asks to have a tag of its own.
func ETag(tag, suffix string) string { return `"` + tag + suffix + `"` }

// NotModified tells whether the request's If-None-Match names etag, with
// the weak comparison that RFC 9110 asks for (and * for any).
func NotModified(r *http.Request, etag string) bool {
	for _, value := range r.Header.Values("If-None-Match") {
		for _, tag := range strings.Split(value, ",") {
			tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
			if tag == "*" || tag == etag {
				return true
			}
		}
	}
	return false
}

// Cache-Control values, shared by the answers written: clients keep an
// answer but ask again every time (a 304 when it has not changed), so none
// ever serves a stale one; a signed-in caller's answer is theirs only.
var (
	revalidate        = []string{"no-cache"}
	revalidatePrivate = []string{"private, no-cache"}
)

// CacheControl is the Cache-Control of a revalidated answer.
func CacheControl(private bool) []string {
	if private {
		return revalidatePrivate
	}
	return revalidate
}

// AcceptsGzip reads Accept-Encoding (RFC 9110, 12.5.3): gzip (or x-gzip,
// or *) with a weight above zero; an explicit gzip weight wins over *.
func AcceptsGzip(r *http.Request) bool {
	accepted := false
	for _, value := range r.Header.Values("Accept-Encoding") {
		for _, item := range strings.Split(value, ",") {
			coding, params, _ := strings.Cut(item, ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			if coding != "gzip" && coding != "x-gzip" && coding != "*" {
				continue
			}
			zero := isZeroWeight(params)
			if coding != "*" {
				return !zero
			}
			accepted = !zero
		}
	}
	return accepted
}

func isZeroWeight(params string) bool {
	for _, param := range strings.Split(params, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(param), "=")
		if strings.EqualFold(name, "q") {
			weight, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
			return err == nil && weight == 0
		}
	}
	return false
}
