package hapta

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/router"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/postr-inc/hapta/internal/testsupport"
)

// unitsWorld is hapta with posts (cached over HTTP) and comments, and two
// users with their database handles.
type unitsWorld struct {
	app        core.App
	server     *httptest.Server
	alice, bob *core.Record
	aliceToken string
	asAlice    *Database
	asBob      *Database
	bobsPost   *core.Record
}

func newUnitsWorld(t *testing.T, limits UnitLimits) *unitsWorld {
	t.Helper()
	app := testsupport.NewApp(t, func(app core.App) {
		config := Config{ConfigFile: writeConfig(t, `{"logLevel": "error", "cache": {"collections": {"posts": {"http": true, "ttl": "1h"}}}}`).path, Units: limits}
		if _, err := register(app, nil, config, &testsupport.SyncBuffer{}); err != nil {
			t.Fatal(err)
		}
	})
	posts := newPosts(t, app)
	comments := core.NewBaseCollection("comments")
	comments.Fields.Add(
		&core.RelationField{Name: "post", Required: true, CollectionId: posts.Id, MaxSelect: 1, CascadeDelete: true},
		&core.TextField{Name: "text", Required: true, Min: 3},
	)
	comments.ListRule, comments.ViewRule = types.Pointer(""), types.Pointer("")
	comments.CreateRule = types.Pointer(`@request.auth.id != "" && post.author = @request.auth.id`)
	if err := app.Save(comments); err != nil {
		t.Fatal(err)
	}
	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		Handle(se, "POST /units/{mode}", queueTwoPosts, RequireAuth())
		return se.Next()
	})
	server, err := testsupport.Serve(t, app)
	if err != nil {
		t.Fatal(err)
	}
	w := &unitsWorld{app: app, server: server}
	w.alice, w.aliceToken = testsupport.NewAuthRecord(t, app, "users", "alice@example.com")
	w.bob, _ = testsupport.NewAuthRecord(t, app, "users", "bob@example.com")
	db := ServicesOf(app).DB
	w.asAlice = db.As(Principal{IsAuthenticated: true, ID: w.alice.Id, Record: w.alice})
	w.asBob = db.As(Principal{IsAuthenticated: true, ID: w.bob.Id, Record: w.bob})
	w.bobsPost = testsupport.SaveRecord(t, app, "posts", map[string]any{"title": "Bob's post", "author": w.bob.Id})
	return w
}

type unitsMode struct {
	Mode string `path:"mode"`
}

// queueTwoPosts queues two posts of the caller in ctx.DB()'s batch mode,
// reads them back, and saves them when the mode is "save".
func queueTwoPosts(ctx *Context, in unitsMode) error {
	db := ctx.DB()
	if err := db.SetBatch(true); err != nil {
		return err
	}
	for _, title := range []string{"Queued one", "Queued two"} {
		if _, err := ctx.DB().Create("posts", map[string]any{"title": title, "author": ctx.Principal.ID}); err != nil {
			return err
		}
	}
	seen, err := ctx.DB().List("posts", ListOptions{Filter: "author = '" + ctx.Principal.ID + "'"})
	if err != nil {
		return err
	}
	if in.Mode == "save" {
		if _, err := db.SaveChanges(); err != nil {
			return err
		}
	}
	return ctx.JSON(http.StatusOK, map[string]any{"seen": seen.TotalItems})
}

func (w *unitsWorld) count(t *testing.T, collection string) int64 {
	t.Helper()
	n, err := w.app.CountRecords(collection)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// unitFailure checks that err is a unit's failure at op index with
// PocketBase's status and, when field is set, a field error for it.
func unitFailure(t *testing.T, err error, index, status int, field string) *UnitError {
	t.Helper()
	var unitErr *UnitError
	var apiErr *router.ApiError
	if !errors.As(err, &unitErr) || unitErr.Index != index || !errors.As(unitErr.Err, &apiErr) || apiErr.Status != status {
		t.Fatalf("error %v, want op %d failing with %d", err, index, status)
	}
	if field != "" && apiErr.Data[field] == nil {
		t.Fatalf("op %d: no field error for %s in %v", index, field, apiErr.Data)
	}
	return unitErr
}

func TestAUnitWhoseFifthOpFailsAppliesNone(t *testing.T) {
	t.Parallel()
	w := newUnitsWorld(t, UnitLimits{})
	unit := w.asAlice.Begin()
	post, err := unit.Create("posts", map[string]any{"title": "First", "author": w.alice.Id})
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"one", "two", "three"} {
		if _, err := unit.Create("comments", map[string]any{"post": post["id"], "text": text}); err != nil {
			t.Fatal(err)
		}
	}
	unit.Create("comments", map[string]any{"post": post["id"], "text": "x"}) // under the minimum length
	_, err = unit.SaveChanges()
	unitFailure(t, err, 4, http.StatusBadRequest, "text")
	if posts, comments := w.count(t, "posts"), w.count(t, "comments"); posts != 1 || comments != 0 {
		t.Fatalf("after the failed unit: %d posts (Bob's only), %d comments", posts, comments)
	}
	if unit.Len() != 0 {
		t.Fatalf("the failed unit still holds %d ops", unit.Len())
	}
}

func TestAUnitBreakingAnAPIRuleInItsThirdOpIsRefusedWhole(t *testing.T) {
	t.Parallel()
	w := newUnitsWorld(t, UnitLimits{})
	unit := w.asAlice.Begin()
	post, _ := unit.Create("posts", map[string]any{"title": "Mine", "author": w.alice.Id})
	unit.Create("comments", map[string]any{"post": post["id"], "text": "on my post"})
	unit.Create("comments", map[string]any{"post": w.bobsPost.Id, "text": "on Bob's post"}) // the create rule: the post's author only
	_, err := unit.SaveChanges()
	unitFailure(t, err, 2, http.StatusBadRequest, "")
	if posts, comments := w.count(t, "posts"), w.count(t, "comments"); posts != 1 || comments != 0 {
		t.Fatalf("after the refused unit: %d posts, %d comments", posts, comments)
	}

	// an update the update rule refuses
	unit.Update("posts", w.bobsPost.Id, map[string]any{"title": "Taken over"})
	_, err = unit.SaveChanges()
	unitFailure(t, err, 0, http.StatusNotFound, "")
}

func TestAPostAndItsCommentsInOneUnitWithOptimisticIds(t *testing.T) {
	t.Parallel()
	w := newUnitsWorld(t, UnitLimits{})
	db := w.asAlice
	if err := db.SetBatch(true); err != nil { // the seed's API
		t.Fatal(err)
	}
	post, err := db.Create("posts", map[string]any{"title": "With comments", "author": w.alice.Id})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := post["id"].(string)
	if len(id) != 15 || post["collectionName"] != "posts" {
		t.Fatalf("the optimistic record: %v", post)
	}
	var commentIDs []string
	for i := range 3 {
		comment, err := db.Create("comments", map[string]any{"post": id, "text": fmt.Sprintf("comment %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		commentIDs = append(commentIDs, comment["id"].(string))
	}
	if n := w.count(t, "comments"); n != 0 {
		t.Fatalf("%d comments written before SaveChanges", n)
	}
	results, err := db.SaveChanges()
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 4 || results[0]["id"] != id || results[0]["created"] == "" {
		t.Fatalf("results: %v", results)
	}
	saved, err := w.app.FindRecordById("posts", id)
	if err != nil {
		t.Fatal(err)
	}
	for _, commentID := range commentIDs {
		comment, err := w.app.FindRecordById("comments", commentID)
		if err != nil || comment.GetString("post") != saved.Id {
			t.Fatalf("comment %s: %v %v", commentID, comment, err)
		}
	}
	if err := db.SetBatch(false); err != nil {
		t.Fatal(err)
	}
}

func TestReadsThroughAUnitSeeItsWritesAndNobodyElseDoes(t *testing.T) {
	t.Parallel()
	w := newUnitsWorld(t, UnitLimits{})
	unit := w.asAlice.Begin()
	post, _ := unit.Create("posts", map[string]any{"title": "Draft", "author": w.alice.Id})
	unit.Update("posts", post["id"].(string), map[string]any{"title": "Draft, edited"})
	unit.Create("comments", map[string]any{"post": post["id"], "text": "first"})

	got, err := unit.Get("posts", post["id"].(string), ReadOptions{})
	if err != nil || got["title"] != "Draft, edited" {
		t.Fatalf("the unit reads its post: %v %v", got, err)
	}
	list, err := unit.List("comments", ListOptions{Filter: "post.title ~ 'edited'"})
	if err != nil || list.TotalItems != 1 {
		t.Fatalf("the unit lists its comment, joined to its post: %+v %v", list, err)
	}
	for name, other := range map[string]*Database{"alice outside the unit": w.asAlice, "bob": w.asBob, "anonymous": ServicesOf(w.app).DB} {
		if _, err := other.Get("posts", post["id"].(string), ReadOptions{}); err == nil {
			t.Fatalf("%s sees the unit's post before the commit", name)
		}
		if page, _ := other.List("comments", ListOptions{}); page.TotalItems != 0 {
			t.Fatalf("%s lists the unit's comments before the commit", name)
		}
	}
	if w.count(t, "posts") != 1 {
		t.Fatal("a read through the unit left its writes behind")
	}

	// after a failure the writes are gone, for the unit too
	unit.Create("comments", map[string]any{"post": post["id"], "text": ""})
	if _, err := unit.SaveChanges(); err == nil {
		t.Fatal("the unit saved an empty comment")
	}
	if _, err := unit.Get("posts", post["id"].(string), ReadOptions{}); err == nil {
		t.Fatal("the unit still sees its post after the failure")
	}
}

func TestQueuedUpdatesAndDeletesCommit(t *testing.T) {
	t.Parallel()
	w := newUnitsWorld(t, UnitLimits{})
	keep := testsupport.SaveRecord(t, w.app, "posts", map[string]any{"title": "Keep me", "author": w.bob.Id})
	unit := w.asBob.Begin()
	unit.Update("posts", keep.Id, map[string]any{"title": "Kept and edited"})
	unit.Delete("posts", w.bobsPost.Id)
	done := make(chan error, 1)
	go func() { _, err := unit.SaveChanges(); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("SaveChanges of an update and a delete did not return") // the original hung here
	}
	if edited, err := w.app.FindRecordById("posts", keep.Id); err != nil || edited.GetString("title") != "Kept and edited" {
		t.Fatalf("the update: %v %v", edited, err)
	}
	if _, err := w.app.FindRecordById("posts", w.bobsPost.Id); err == nil {
		t.Fatal("the delete did not commit")
	}
}

func TestTheCacheIsFreshRightAfterSaveChanges(t *testing.T) {
	t.Parallel()
	w := newUnitsWorld(t, UnitLimits{})
	path := w.server.URL + "/api/collections/posts/records?sort=title"
	for range 2 { // a MISS, then a HIT
		testsupport.CallJSON(t, "GET", path, "")
	}
	if res := testsupport.CallJSON(t, "GET", path, ""); res.Header.Get(CacheHeader) != "HIT" {
		t.Fatalf("the list is not cached: %q", res.Header.Get(CacheHeader))
	}
	unit := w.asAlice.Begin()
	unit.Create("posts", map[string]any{"title": "A new post", "author": w.alice.Id})
	unit.Update("posts", w.bobsPost.Id, map[string]any{"title": "never"}) // refused: nothing of the unit
	if _, err := unit.SaveChanges(); err == nil {
		t.Fatal("alice edited bob's post")
	}
	if res := testsupport.CallJSON(t, "GET", path, ""); res.Body["totalItems"] != 1.0 {
		t.Fatalf("after the failed unit: %v", res.Body["totalItems"])
	}
	unit.Create("posts", map[string]any{"title": "A new post", "author": w.alice.Id})
	if _, err := unit.SaveChanges(); err != nil {
		t.Fatal(err)
	}
	if res := testsupport.CallJSON(t, "GET", path, ""); res.Body["totalItems"] != 2.0 {
		t.Fatalf("right after SaveChanges: %s %v", res.Header.Get(CacheHeader), res.Body["totalItems"])
	}
}

// Concurrent requests' units, each of its own caller, never mix: each
// commits or fails whole. Run with -race.
func TestConcurrentUnitsNeverMix(t *testing.T) {
	t.Parallel()
	w := newUnitsWorld(t, UnitLimits{})
	const writers, posts = 6, 20
	authors := make([]*core.Record, writers)
	tokens := make([]string, writers)
	for i := range authors {
		authors[i], tokens[i] = testsupport.NewAuthRecord(t, w.app, "users", fmt.Sprintf("writer%d@example.com", i))
	}
	var wg sync.WaitGroup
	statuses := make([]int, writers)
	for i, author := range authors {
		wg.Go(func() {
			ops := make([]map[string]any, posts)
			for j := range ops {
				title := fmt.Sprintf("post %d of writer %d", j, i)
				if i%2 == 1 && j == posts-1 {
					title = "" // the odd writers' last op fails
				}
				ops[j] = map[string]any{"op": "create", "collection": "posts", "data": map[string]any{"title": title, "author": author.Id}}
			}
			statuses[i], _ = w.batch(t, tokens[i], ops...)
		})
	}
	// and units in process at the same time, over the same collection
	for i := range 2 {
		wg.Go(func() {
			unit := w.asBob.Begin()
			for j := range posts {
				unit.Create("posts", map[string]any{"title": fmt.Sprintf("bob's %d-%d", i, j), "author": w.bob.Id})
			}
			if _, err := unit.SaveChanges(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i, author := range authors {
		n, err := w.app.CountRecords("posts", dbx.HashExp{"author": author.Id})
		if err != nil {
			t.Fatal(err)
		}
		want, wantStatus := int64(posts), 200
		if i%2 == 1 {
			want, wantStatus = 0, 400
		}
		if n != want || statuses[i] != wantStatus {
			t.Fatalf("writer %d: answered %d, %d posts; want %d, %d", i, statuses[i], n, wantStatus, want)
		}
	}
	if n, _ := w.app.CountRecords("posts", dbx.HashExp{"author": w.bob.Id}); n != 2*posts+1 {
		t.Fatalf("bob: %d posts, want %d", n, 2*posts+1)
	}
}

func TestUnitLimits(t *testing.T) {
	t.Parallel()
	w := newUnitsWorld(t, UnitLimits{MaxOps: 2, Timeout: time.Nanosecond})
	unit := w.asAlice.Begin()
	unit.Create("posts", map[string]any{"title": "One", "author": w.alice.Id})
	unit.Create("posts", map[string]any{"title": "Two", "author": w.alice.Id})
	var apiErr *router.ApiError
	if _, err := unit.Create("posts", map[string]any{"title": "Three", "author": w.alice.Id}); !errors.As(err, &apiErr) || apiErr.Status != 400 {
		t.Fatalf("a third op past MaxOps 2: %v", err)
	}
	_, err := unit.SaveChanges()
	unitFailure(t, err, 0, http.StatusServiceUnavailable, "")
	if w.count(t, "posts") != 1 {
		t.Fatal("a unit past its time limit was applied")
	}
	if _, err := unit.Create("nothing-here", nil); !errors.As(err, &apiErr) || apiErr.Status != 404 {
		t.Fatalf("a missing collection: %v", err)
	}
}

// ServicesOf(app).DB (ctx.Services.DB) is a handle per caller: one
// caller's batch mode does not queue another's writes.
func TestBatchModeIsTheHandlesNotTheApps(t *testing.T) {
	t.Parallel()
	w := newUnitsWorld(t, UnitLimits{})
	first := ServicesOf(w.app).DB.AsSystem()
	if err := first.SetBatch(true); err != nil {
		t.Fatal(err)
	}
	shared := ServicesOf(w.app).DB
	if err := shared.SetBatch(true); err != nil {
		t.Fatal(err)
	}
	shared.Create("posts", map[string]any{"title": "queued"})
	if other := ServicesOf(w.app).DB; other.unit != nil || shared.unit.Len() != 1 || first.unit.Len() != 0 {
		t.Fatal("batch mode is shared between handles")
	}
}

// A create in a view collection is refused as PocketBase refuses it (400),
// not a 500.
func TestACreateInAViewCollectionIsRefused(t *testing.T) {
	t.Parallel()
	w := newUnitsWorld(t, UnitLimits{})
	view := core.NewViewCollection("post_titles")
	view.ViewQuery = "SELECT id, title FROM posts"
	view.ListRule, view.ViewRule = types.Pointer(""), types.Pointer("")
	if err := w.app.Save(view); err != nil {
		t.Fatal(err)
	}
	status, body := w.batch(t, w.aliceToken, map[string]any{"op": "create", "collection": "post_titles", "data": map[string]any{"title": "x"}})
	if status != 400 || failedOp(t, body, "0")["status"] != 400.0 {
		t.Fatalf("a create in a view: %d %v", status, body)
	}
}
