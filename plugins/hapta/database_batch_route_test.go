package hapta

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/postr-inc/hapta/internal/testsupport"
)

// batch posts ops to POST /api/hapta/batch with token ("" for anonymous).
func (w *unitsWorld) batch(t *testing.T, token string, ops ...map[string]any) (int, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"ops": ops})
	res := testsupport.CallJSON(t, "POST", w.server.URL+BatchPath, string(body), "Authorization", token)
	return res.Status, res.Body
}

// failedOp is the failing op's entry of a unit's 400 answer.
func failedOp(t *testing.T, body map[string]any, index string) map[string]any {
	t.Helper()
	data, _ := body["data"].(map[string]any)
	ops, _ := data["ops"].(map[string]any)
	op, _ := ops[index].(map[string]any)
	if op == nil {
		t.Fatalf("no op %s in the error: %v", index, body)
	}
	return op
}

func TestTheBatchRouteCreatesAPostAndItsCommentsByReference(t *testing.T) {
	t.Parallel()
	w := newUnitsWorld(t, UnitLimits{})
	status, body := w.batch(t, w.aliceToken,
		map[string]any{"op": "create", "collection": "posts", "data": map[string]any{"title": "By batch", "author": w.alice.Id}},
		map[string]any{"op": "create", "collection": "comments", "data": map[string]any{"post": "@ref:0", "text": "first"}},
		map[string]any{"op": "create", "collection": "comments", "data": map[string]any{"post": "@ref:0", "text": "second"}},
		map[string]any{"op": "update", "collection": "posts", "id": "@ref:0", "data": map[string]any{"title": "By batch, edited"}},
	)
	results, _ := body["results"].([]any)
	if status != 200 || len(results) != 4 {
		t.Fatalf("%d %v", status, body)
	}
	postID := results[0].(map[string]any)["id"].(string)
	post, err := w.app.FindRecordById("posts", postID)
	if err != nil || post.GetString("title") != "By batch, edited" {
		t.Fatalf("the post: %v %v", post, err)
	}
	for _, r := range results[1:3] {
		comment, err := w.app.FindRecordById("comments", r.(map[string]any)["id"].(string))
		if err != nil || comment.GetString("post") != postID {
			t.Fatalf("a comment: %v %v", comment, err)
		}
	}
}

func TestTheBatchRouteKeepsACreatesOwnID(t *testing.T) {
	t.Parallel()
	w := newUnitsWorld(t, UnitLimits{})
	status, body := w.batch(t, w.aliceToken,
		map[string]any{"op": "create", "collection": "posts", "id": "mychosenid12345", "data": map[string]any{"title": "Mine", "author": w.alice.Id}},
		map[string]any{"op": "update", "collection": "posts", "id": "@ref:0", "data": map[string]any{"title": "Mine, edited"}})
	if status != 200 {
		t.Fatalf("%d %v", status, body)
	}
	if post, err := w.app.FindRecordById("posts", "mychosenid12345"); err != nil || post.GetString("title") != "Mine, edited" {
		t.Fatalf("the post with its own id: %v %v", post, err)
	}
}

func TestTheBatchRouteAnswersTheFailingOp(t *testing.T) {
	t.Parallel()
	w := newUnitsWorld(t, UnitLimits{})
	post := map[string]any{"op": "create", "collection": "posts", "data": map[string]any{"title": "Never", "author": w.alice.Id}}
	cases := []struct {
		name, token string
		ops         []map[string]any
		index       string
		want        func(op map[string]any) bool
	}{
		{"a field error", w.aliceToken, []map[string]any{post,
			{"op": "create", "collection": "comments", "data": map[string]any{"post": "@ref:0", "text": "x"}}}, "1",
			func(op map[string]any) bool {
				return op["status"] == 400.0 && op["data"].(map[string]any)["text"] != nil
			}},
		{"an API rule", "", []map[string]any{post}, "0",
			func(op map[string]any) bool {
				return op["status"] == 400.0 && op["op"] == "create" && op["collection"] == "posts"
			}},
		{"a reference forward", w.aliceToken, []map[string]any{
			{"op": "create", "collection": "comments", "data": map[string]any{"post": "@ref:1", "text": "early"}}, post}, "0",
			func(op map[string]any) bool { return strings.Contains(op["message"].(string), "@ref:1") }},
		{"a reference to a delete", w.aliceToken, []map[string]any{
			{"op": "delete", "collection": "posts", "id": w.bobsPost.Id},
			{"op": "update", "collection": "posts", "id": "@ref:0", "data": map[string]any{}}}, "1",
			func(op map[string]any) bool { return op["status"] == 400.0 }},
		{"a missing collection", w.aliceToken, []map[string]any{post,
			{"op": "create", "collection": "nothing", "data": map[string]any{}}}, "1",
			func(op map[string]any) bool { return op["status"] == 404.0 }},
	}
	for _, c := range cases {
		status, body := w.batch(t, c.token, c.ops...)
		if status != 400 || !c.want(failedOp(t, body, c.index)) {
			t.Errorf("%s: %d %v", c.name, status, body)
		}
	}
	if n := w.count(t, "posts"); n != 1 {
		t.Fatalf("%d posts after the refused batches, want Bob's only", n)
	}

	// the input itself: every bad op named
	status, body := w.batch(t, w.aliceToken, map[string]any{"op": "upsert", "collection": "posts"}, map[string]any{"op": "delete", "collection": "posts"})
	data, _ := body["data"].(map[string]any)
	ops, _ := data["ops"].(map[string]any)
	if status != 400 || ops["0"] == nil || ops["1"] == nil {
		t.Fatalf("bad ops: %d %v", status, body)
	}
	if status, _ := w.batch(t, w.aliceToken); status != 400 {
		t.Fatalf("no ops: %d", status)
	}
}

// A route's ctx.DB() in batch mode: saved, its writes land; never saved,
// they are discarded when the request ends. Either way the handler read
// its own writes.
func TestARouteUnitIsSavedOrDiscarded(t *testing.T) {
	t.Parallel()
	w := newUnitsWorld(t, UnitLimits{})
	for _, c := range []struct {
		mode string
		want int64
	}{{"forget", 1}, {"save", 3}} {
		res := testsupport.CallJSON(t, "POST", w.server.URL+"/units/"+c.mode, "", "Authorization", w.aliceToken)
		if res.Status != 200 || res.Body["seen"] != 2.0 {
			t.Fatalf("%s: %d %v", c.mode, res.Status, res.Body)
		}
		if n := w.count(t, "posts"); n != c.want {
			t.Fatalf("after %s: %d posts, want %d", c.mode, n, c.want)
		}
	}
}
