package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"

	"github.com/postr-inc/hapta/internal/benchserver"
)

// op sends one request of a workload and returns the bytes of its answer's
// body.
type op = benchserver.Op

type workload struct {
	name string
	op   func(f *front) op
}

var workloads = []workload{
	// the ceiling: no records at all
	{"health", func(f *front) op { return f.reads(func(*rand.Rand) string { return "/api/health" }, "", false) }},
	{"list", func(f *front) op { return f.reads(listPath, "", false) }},
	{"view", func(f *front) op { return f.reads(f.viewPath, "", false) }},
	// the posts' rules are "", so Hapta shares its entries with anonymous
	// readers, while nginx passes every request with a token through
	{"list (user)", func(f *front) op { return f.reads(listPath, f.reader, false) }},
	{"view (user)", func(f *front) op { return f.reads(f.viewPath, f.reader, false) }},
	{"mixed", func(f *front) op { return f.mixed("") }},
	{"mixed (user)", func(f *front) op { return f.mixed(f.reader) }},
	{"list gzip", func(f *front) op { return f.reads(listPath, "", true) }},
}

func listPath(r *rand.Rand) string { return listPage(1 + r.IntN(10)) }

func listPage(page int) string {
	return "/api/collections/posts/records?perPage=20&sort=-created&page=" + strconv.Itoa(page)
}

func (f *front) viewPath(r *rand.Rand) string {
	return "/api/collections/posts/records/" + f.postIDs[r.IntN(len(f.postIDs))]
}

// reads GETs path with the token ("" for an anonymous reader, as a public
// feed's are), asking for gzip or not.
func (f *front) reads(path func(*rand.Rand) string, token string, gzip bool) op {
	return func(r *rand.Rand) (int64, error) {
		req := f.request("GET", path(r), token, nil)
		if gzip {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		_, n, err := f.send(req, io.Discard)
		return n, err
	}
}

// warm reads every list page and every post once, as clients of a server
// that has run for a while have: the rounds measure the steady state, not
// the first reads after a start or the writes of the previous workload.
func (f *front) warm() error {
	paths := make([]string, 0, 10+len(f.postIDs))
	for page := 1; page <= 10; page++ {
		paths = append(paths, listPage(page))
	}
	for _, id := range f.postIDs {
		paths = append(paths, "/api/collections/posts/records/"+id)
	}
	for _, path := range paths {
		if _, _, err := f.send(f.request("GET", path, "", nil), io.Discard); err != nil {
			return err
		}
	}
	return nil
}

// listEncoding reads the first list page asking for gzip, checks that the
// answer, decompressed if it is compressed, is JSON, and returns its
// Content-Encoding ("identity" for none).
func (f *front) listEncoding() (string, error) {
	req := f.request("GET", listPage(1), "", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	var body bytes.Buffer
	res, _, err := f.send(req, &body)
	if err != nil {
		return "", err
	}
	encoding, data := res.Header.Get("Content-Encoding"), body.Bytes()
	switch encoding {
	case "":
		encoding = "identity"
	case "gzip":
		zr, err := gzip.NewReader(&body)
		if err != nil {
			return "", fmt.Errorf("list gzip via %s: %w", f.name, err)
		}
		if data, err = io.ReadAll(zr); err != nil {
			return "", fmt.Errorf("list gzip via %s: %w", f.name, err)
		}
	default:
		return "", fmt.Errorf("list gzip via %s: Content-Encoding %q", f.name, encoding)
	}
	if !json.Valid(data) {
		return "", fmt.Errorf("list gzip via %s: the answer is not JSON", f.name)
	}
	return encoding, nil
}

// mixed is 95% reads with the token, half lists and half views, and 5%
// edits of a post's title as the superuser (writes invalidate the cache).
func (f *front) mixed(token string) op {
	list, view := f.reads(listPath, token, false), f.reads(f.viewPath, token, false)
	return func(r *rand.Rand) (int64, error) {
		switch n := r.IntN(100); {
		case n < 5:
			req := f.request("PATCH", f.viewPath(r), f.admin, map[string]any{"title": "Edited " + strconv.Itoa(r.IntN(1e6))})
			_, sent, err := f.send(req, io.Discard)
			return sent, err
		case n < 50:
			return list(r)
		default:
			return view(r)
		}
	}
}
