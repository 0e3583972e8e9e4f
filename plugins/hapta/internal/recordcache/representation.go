package recordcache

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// minCompressed is the smallest body worth compressing: below it the
// gzip framing (18 bytes) and a packet's worth of bytes make no difference.
const minCompressed = 512

// representation is an answer's body in one content coding, ready to write:
// its own strong ETag (a representation's, so the gzip one differs) and
// Content-Length.
type representation struct {
	body   []byte
	etag   []string // one value, shared by the answers written
	length []string
}

func newRepresentation(body []byte, etag string) representation {
	return representation{body: body, etag: []string{etag}, length: []string{strconv.Itoa(len(body))}}
}

// prepare makes what an answer needs to be served from the cache: its ETag,
// derived from its bytes (equal answers get equal tags, whichever the
// versions), and a gzip copy when that is smaller.
func (a *Answer) prepare() {
	sum := sha256.Sum256(a.Body)
	tag := base64.RawURLEncoding.EncodeToString(sum[:15])
	a.contentType = []string{a.ContentType}
	a.identity = newRepresentation(a.Body, `"`+tag+`"`)
	if len(a.Body) < minCompressed {
		return
	}
	var compressed bytes.Buffer
	w, _ := gzip.NewWriterLevel(&compressed, gzip.BestCompression)
	_, _ = w.Write(a.Body)
	_ = w.Close()
	if compressed.Len() < len(a.Body) {
		a.gzip = newRepresentation(slices.Clip(compressed.Bytes()), `"`+tag+`-gzip"`)
	}
}

// representationFor picks the representation the request accepts.
func (a *Answer) representationFor(r *http.Request) (representation, bool) {
	if a.gzip.body != nil && acceptsGzip(r.Header.Values("Accept-Encoding")) {
		return a.gzip, true
	}
	return a.identity, false
}

// acceptsGzip reads Accept-Encoding (RFC 9110, 12.5.3): gzip (or x-gzip,
// or *) with a weight above zero.
func acceptsGzip(values []string) bool {
	accepted := false
	for _, value := range values {
		for _, item := range strings.Split(value, ",") {
			coding, params, _ := strings.Cut(item, ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			if coding != "gzip" && coding != "x-gzip" && coding != "*" {
				continue
			}
			zero := isZeroWeight(params)
			if coding != "*" {
				return !zero // an explicit gzip weight wins over *
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

// notModified tells whether If-None-Match names the representation (RFC
// 9110, 13.1.2: the weak comparison, and * for any).
func notModified(r *http.Request, etag string) bool {
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

// Cache-Control of a cached answer: browsers keep it but ask again every
// time (a 304 when it has not changed), so no client ever serves a stale
// one; an answer of one caller is theirs only.
var (
	revalidate        = []string{"no-cache"}
	revalidatePrivate = []string{"private, no-cache"}
)

// write writes the answer in the representation the request accepts, or
// 304 Not Modified when the client has it.
func (a *Answer) write(w http.ResponseWriter, r *http.Request, cacheHeader []string, private bool) error {
	chosen, gzipped := a.representationFor(r)
	header := w.Header()
	header["Etag"] = chosen.etag
	if private {
		header["Cache-Control"] = revalidatePrivate
	} else {
		header["Cache-Control"] = revalidate
	}
	if a.gzip.body != nil {
		header.Add("Vary", "Accept-Encoding")
	}
	header[Header] = cacheHeader
	if notModified(r, chosen.etag[0]) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	header["Content-Type"] = a.contentType
	header["Content-Length"] = chosen.length
	if gzipped {
		header["Content-Encoding"] = contentEncodingGzip
	}
	w.WriteHeader(a.Status)
	_, err := w.Write(chosen.body)
	return err
}

var contentEncodingGzip = []string{"gzip"}
