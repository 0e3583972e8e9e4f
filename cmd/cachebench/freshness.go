package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"time"
)

// trials is how many writes a count of stale reads makes.
const trials = 20

// staleness counts the reads right after a write that do not show it.
type staleness struct{ view, list int }

type post struct{ ID, Title string }

// stale makes trials writes through the front and counts the anonymous
// reads right after each that miss it. A write changes the title of a post
// of one of the first ten list pages, which were just read so that a cache
// holds them; then the post and its page are read. With viewWarmed, the
// post is read just before the write too.
func (f *front) stale(r *rand.Rand, viewWarmed bool) (staleness, error) {
	var s staleness
	used := map[string]bool{}
	for trial := 0; trial < trials; trial++ {
		pages := make([][]post, 10)
		for i := range pages {
			var list struct{ Items []post }
			if err := f.fetch(listPage(i+1), &list); err != nil {
				return s, err
			}
			pages[i] = list.Items
		}
		// a post of an earlier trial had its view read after its write,
		// and cached by nginx then
		var page int
		var target post
		for target.ID == "" || used[target.ID] {
			page = r.IntN(len(pages))
			target = pages[page][r.IntN(len(pages[page]))]
		}
		used[target.ID] = true
		view := "/api/collections/posts/records/" + target.ID
		if viewWarmed {
			if err := f.fetch(view, &post{}); err != nil {
				return s, err
			}
		}

		title := fmt.Sprintf("Fresh title %d of %s", time.Now().UnixNano(), f.name)
		if _, _, err := f.send(f.request("PATCH", view, f.admin, map[string]any{"title": title}), io.Discard); err != nil {
			return s, err
		}
		var read post
		if err := f.fetch(view, &read); err != nil {
			return s, err
		}
		if read.Title != title {
			s.view++
		}
		var list struct{ Items []post }
		if err := f.fetch(listPage(page+1), &list); err != nil {
			return s, err
		}
		i := slices.IndexFunc(list.Items, func(p post) bool { return p.ID == target.ID })
		if i < 0 {
			return s, fmt.Errorf("post %s left page %d of the list via %s", target.ID, page+1, f.name)
		}
		if list.Items[i].Title != title {
			s.list++
		}
	}
	return s, nil
}
