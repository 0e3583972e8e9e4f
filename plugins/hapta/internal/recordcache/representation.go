package recordcache

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/pocketbase/pocketbase/tools/router"

	"github.com/postr-inc/hapta/plugins/hapta/internal/conditional"
)

// minCompressed is the smallest body worth compressing: below it the
// gzip framing (18 bytes) and a packet's worth of bytes make no difference.
const minCompressed = 512

// gzipWriters are reused: a writer's state is about 800 KB to allocate.
// Level 1, as nginx's default, costs a miss the least; JSON compresses
// about 6x even so.
var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return w
}}

// representation is an answer's body in one content coding, ready to write:
// its own strong ETag (a representation's, so the gzip one differs: RFC
// 9110, 8.8.3) and Content-Length.
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
	a.contentType = []string{a.ContentType}
	tag := conditional.Tag(a.Body)
	a.identity = newRepresentation(a.Body, conditional.ETag(tag, ""))
	if len(a.Body) < minCompressed {
		return
	}
	var compressed bytes.Buffer
	w := gzipWriters.Get().(*gzip.Writer)
	w.Reset(&compressed)
	_, _ = w.Write(a.Body)
	_ = w.Close()
	gzipWriters.Put(w)
	if compressed.Len() < len(a.Body) {
		a.gzip = newRepresentation(slices.Clip(compressed.Bytes()), conditional.ETag(tag, "-gzip"))
	}
}

// NewAnswer is an answer computed elsewhere (by a cluster's primary), ready
// to write.
func NewAnswer(status int, contentType string, body []byte) *Answer {
	answer := &Answer{Status: status, ContentType: contentType, Body: body}
	answer.prepare()
	return answer
}

// Write writes the answer as the cache does: the representation the request
// accepts or 304, its ETag and Cache-Control (private for a signed-in
// caller), and Header: HIT or MISS.
func (a *Answer) Write(w http.ResponseWriter, r *http.Request, hit, private bool) error {
	return a.write(w, r, cacheHeader(hit), private)
}

// Size is the bytes of its bodies (identity and gzip).
func (a *Answer) Size() int { return len(a.Body) + len(a.gzip.body) }

// representationFor picks the representation the request accepts; encode
// is false when the response is written through another writer (PocketBase's
// Gzip middleware, say), which must get the answer itself.
func (a *Answer) representationFor(r *http.Request, encode bool) (representation, bool) {
	if encode && a.gzip.body != nil && conditional.AcceptsGzip(r) {
		return a.gzip, true
	}
	return a.identity, false
}

// write writes the answer in the representation the request accepts, or
// 304 Not Modified when the client has it.
func (a *Answer) write(w http.ResponseWriter, r *http.Request, cacheHeader []string, private bool) error {
	_, direct := w.(*router.ResponseWriter) // PocketBase's own, unwrapped
	chosen, gzipped := a.representationFor(r, direct)
	header := w.Header()
	header["Etag"] = chosen.etag
	header["Cache-Control"] = conditional.CacheControl(private)
	if direct && a.gzip.body != nil {
		header.Add("Vary", "Accept-Encoding")
	}
	header[Header] = cacheHeader
	if a.Status == http.StatusOK && conditional.NotModified(r, chosen.etag[0]) {
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
