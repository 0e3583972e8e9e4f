package recordcache

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"
	_ "github.com/pocketbase/pocketbase/migrations" // PocketBase's system collections

	"github.com/postr-inc/hapta/internal/testsupport"
)

// itemsApp is a PocketBase app with an "items" collection and versions
// bound to its writes.
func itemsApp(t testing.TB) (core.App, *core.Collection, *Versions) {
	t.Helper()
	app := testsupport.NewApp(t, func(core.App) {})
	items := core.NewBaseCollection("items")
	items.Fields.Add(&core.NumberField{Name: "n"}, &core.TextField{Name: "payload"})
	if err := app.Save(items); err != nil {
		t.Fatal(err)
	}
	versions := NewVersions()
	versions.BindTo(app, nil)
	return app, items, versions
}

// loadItem reads an item's n as an answer, as a cached endpoint would.
func loadItem(app core.App, id string) func() (*Answer, error) {
	return func() (*Answer, error) {
		record, err := app.FindRecordById("items", id)
		if err != nil {
			return nil, err
		}
		body, _ := json.Marshal(map[string]any{"n": record.GetInt("n")})
		return &Answer{Status: 200, ContentType: "application/json", Body: body}, nil
	}
}

func readN(t testing.TB, a *Answer) int {
	var v struct{ N int }
	if err := json.Unmarshal(a.Body, &v); err != nil {
		t.Fatal(err)
	}
	return v.N
}

func TestHitsUntilAWrite(t *testing.T) {
	t.Parallel()
	app, items, versions := itemsApp(t)
	store := NewStore(versions, 1<<20)
	record := core.NewRecord(items)
	record.Set("n", 1)
	if err := app.Save(record); err != nil {
		t.Fatal(err)
	}
	deps := Deps{Record: RecordRef{items.Id, record.Id}}

	if _, hit, _ := store.Get(Key{Path: "item"}, deps, fixed(time.Minute), loadItem(app, record.Id)); hit {
		t.Fatal("first read hit")
	}
	answer, hit, _ := store.Get(Key{Path: "item"}, deps, fixed(time.Minute), loadItem(app, record.Id))
	if !hit || readN(t, answer) != 1 {
		t.Fatalf("second read: hit %v n %d", hit, readN(t, answer))
	}

	record.Set("n", 2)
	if err := app.Save(record); err != nil {
		t.Fatal(err)
	}
	answer, hit, _ = store.Get(Key{Path: "item"}, deps, fixed(time.Minute), loadItem(app, record.Id))
	if hit || readN(t, answer) != 2 {
		t.Fatalf("after a write: hit %v n %d", hit, readN(t, answer))
	}

	// a rolled-back transaction changes nothing, so the answer stays cached
	_ = app.RunInTransaction(func(tx core.App) error {
		r, _ := tx.FindRecordById("items", record.Id)
		r.Set("n", 99)
		if err := tx.Save(r); err != nil {
			return err
		}
		return fmt.Errorf("roll back")
	})
	answer, hit, _ = store.Get(Key{Path: "item"}, deps, fixed(time.Minute), loadItem(app, record.Id))
	if !hit || readN(t, answer) != 2 {
		t.Fatalf("after a rollback: hit %v n %d", hit, readN(t, answer))
	}

	// another record of the collection leaves this one's answer alone
	other := core.NewRecord(items)
	if err := app.Save(other); err != nil {
		t.Fatal(err)
	}
	if _, hit, _ = store.Get(Key{Path: "item"}, deps, fixed(time.Minute), loadItem(app, record.Id)); !hit {
		t.Fatal("a write to another record dropped the answer")
	}
	// but not a list of the collection
	listDeps := Deps{Collections: []string{items.Id}}
	store.Get(Key{Path: "list"}, listDeps, fixed(time.Minute), loadItem(app, record.Id))
	other.Set("n", 5)
	_ = app.Save(other)
	if _, hit, _ = store.Get(Key{Path: "list"}, listDeps, fixed(time.Minute), loadItem(app, record.Id)); hit {
		t.Fatal("a list survived a write to its collection")
	}

	// a schema or rules change drops everything
	items.ListRule = nil
	if err := app.Save(items); err != nil {
		t.Fatal(err)
	}
	if _, hit, _ = store.Get(Key{Path: "item"}, deps, fixed(time.Minute), loadItem(app, record.Id)); hit {
		t.Fatal("an answer survived a change of its collection")
	}
}

// A load that began before a write and ends after it must not be stored.
func TestALoadThatRacedAWriteIsNotStored(t *testing.T) {
	t.Parallel()
	app, items, versions := itemsApp(t)
	store := NewStore(versions, 1<<20)
	record := core.NewRecord(items)
	if err := app.Save(record); err != nil {
		t.Fatal(err)
	}
	deps := Deps{Record: RecordRef{items.Id, record.Id}}

	store.Get(Key{Path: "item"}, deps, fixed(time.Minute), func() (*Answer, error) {
		answer, err := loadItem(app, record.Id)() // reads n = 0
		record.Set("n", 1)
		if err := app.Save(record); err != nil { // commits while the load is in flight
			t.Fatal(err)
		}
		return answer, err
	})
	answer, hit, _ := store.Get(Key{Path: "item"}, deps, fixed(time.Minute), loadItem(app, record.Id))
	if hit || readN(t, answer) != 1 {
		t.Fatalf("served the raced load: hit %v n %d", hit, readN(t, answer))
	}
}

// Readers and writers at once: after every committed write, no read that
// starts later returns an older value. Run with -race.
func TestNoStaleReadAfterACommittedWrite(t *testing.T) {
	t.Parallel()
	app, items, versions := itemsApp(t)
	store := NewStore(versions, 1<<20)

	const records = 4
	ids := make([]string, records)
	committed := make([]atomic.Int64, records)
	for i := range ids {
		record := core.NewRecord(items)
		if err := app.Save(record); err != nil {
			t.Fatal(err)
		}
		ids[i] = record.Id
	}

	deadline := time.Now().Add(1500 * time.Millisecond)
	var wg sync.WaitGroup
	var reads, stale atomic.Int64
	for i := range ids {
		wg.Add(1)
		go func(i int) { // one writer per record keeps its values increasing
			defer wg.Done()
			for n := 1; time.Now().Before(deadline); n++ {
				record, err := app.FindRecordById("items", ids[i])
				if err != nil {
					t.Error(err)
					return
				}
				record.Set("n", n)
				if err := app.Save(record); err != nil {
					t.Error(err)
					return
				}
				committed[i].Store(int64(n))
			}
		}(i)
	}
	for reader := 0; reader < 6; reader++ {
		wg.Add(1)
		go func(reader int) {
			defer wg.Done()
			for j := 0; time.Now().Before(deadline); j++ {
				i := (reader + j) % records
				floor := committed[i].Load()
				deps := Deps{Record: RecordRef{items.Id, ids[i]}}
				if j%3 == 0 {
					deps = Deps{Collections: []string{items.Id}}
				}
				answer, _, err := store.Get(Key{Path: "item-" + strconv.Itoa(i) + "-" + strconv.Itoa(j%3)}, deps, fixed(time.Minute), loadItem(app, ids[i]))
				if err != nil {
					t.Error(err)
					return
				}
				reads.Add(1)
				if int64(readN(t, answer)) < floor {
					stale.Add(1)
				}
			}
		}(reader)
	}
	wg.Wait()

	stats := store.Stats()
	t.Logf("reads %d, hits %d, loads %d, invalidations %d", reads.Load(), stats.Hits, stats.Loads, stats.Invalidations)
	if stale.Load() > 0 {
		t.Fatalf("%d of %d reads returned data older than a write committed before they started", stale.Load(), reads.Load())
	}
	if stats.Hits == 0 || reads.Load() < 100 {
		t.Fatalf("the test did not exercise the cache: %+v after %d reads", stats, reads.Load())
	}
}

func TestTheByteBoundHolds(t *testing.T) {
	t.Parallel()
	_, _, versions := itemsApp(t)
	const maxBytes = 256 << 10
	store := NewStore(versions, maxBytes)
	big := make([]byte, 10<<10)
	for i := 0; i < 500; i++ { // 5 MB offered to a 256 KiB cache
		store.Get(Key{Path: "big-" + strconv.Itoa(i)}, Deps{}, fixed(time.Minute), func() (*Answer, error) {
			return &Answer{Status: 200, Body: big}, nil
		})
	}
	// otter applies evictions and reports them in the background
	var stats Stats
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		store.answers.CleanUp()
		if stats = store.Stats(); stats.Bytes <= maxBytes && stats.Evictions > 0 {
			break
		}
	}
	if stats.Bytes > maxBytes || stats.Evictions == 0 || stats.Entries == 0 {
		t.Fatalf("byte bound: %+v", stats)
	}
}

func TestConcurrentMissesShareOneLoad(t *testing.T) {
	t.Parallel()
	store := NewStore(NewVersions(), 1<<20)
	var loads atomic.Int64
	release := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answer, _, err := store.Get(Key{Path: "hot"}, Deps{}, fixed(time.Minute), func() (*Answer, error) {
				loads.Add(1)
				<-release // a slow query
				return &Answer{Status: 200, Body: []byte("x")}, nil
			})
			if err != nil || string(answer.Body) != "x" {
				t.Error(answer, err)
			}
		}()
	}
	time.Sleep(100 * time.Millisecond) // let every reader miss
	close(release)
	wg.Wait()
	if loads.Load() != 1 {
		t.Fatalf("%d loads for 20 concurrent misses, want 1", loads.Load())
	}
}

// A load that fails may fail for its own request's reasons (its rate
// limit): a request that waited for it loads by itself.
func TestAFailedLoadIsNotShared(t *testing.T) {
	t.Parallel()
	_, _, versions := itemsApp(t)
	store := NewStore(versions, 1<<20)
	release := make(chan struct{})
	leader := make(chan error)
	go func() {
		_, _, err := store.Get(Key{Path: "k"}, Deps{}, fixed(time.Minute), func() (*Answer, error) {
			<-release
			return nil, errors.New("the leader's own refusal")
		})
		leader <- err
	}()
	time.Sleep(20 * time.Millisecond) // the leader's load is under way
	follower := make(chan *Answer)
	go func() {
		answer, _, err := store.Get(Key{Path: "k"}, Deps{}, fixed(time.Minute), func() (*Answer, error) {
			return &Answer{Status: 200, Body: []byte("the follower's")}, nil
		})
		if err != nil {
			t.Error("the follower got the leader's failure:", err)
		}
		follower <- answer
	}()
	time.Sleep(50 * time.Millisecond) // the follower waits for the leader's load
	close(release)
	if err := <-leader; err == nil {
		t.Fatal("the leader's load did not fail")
	}
	if answer := <-follower; answer == nil || string(answer.Body) != "the follower's" {
		t.Fatalf("the follower's answer: %v", answer)
	}
}
