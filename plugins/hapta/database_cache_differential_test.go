package hapta

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/postr-inc/hapta/internal/testsupport"
	"github.com/postr-inc/hapta/plugins/hapta/internal/inproc"
	"github.com/postr-inc/hapta/plugins/hapta/internal/recordcache"
)

var (
	differentialSeed  = flag.Uint64("differential.seed", 1, "seed of TestCacheDifferential (0: from the clock)")
	differentialSteps = flag.Int("differential.steps", 10000, "steps of TestCacheDifferential")
)

// TestCacheDifferential generates collections, rules, records, callers and
// reads with filters, sorts and expands, interleaved with writes and rule
// changes, and checks after every read that the cached server's answer
// (status, content type, body) is PocketBase's own answer with no cache, on
// the same data, for the same caller. Reads repeat often, by the same and
// by other callers, so that cached answers are put to the test.
//
// `make test-differential` runs it longer with a new seed.
func TestCacheDifferential(t *testing.T) {
	if raceDetector {
		t.Skip("single-threaded and ten times slower under -race: `make test` runs it without")
	}
	t.Parallel()
	seed := *differentialSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	w := newDifferentialWorld(t, seed)
	for step := range *differentialSteps {
		w.step = step
		if w.rng.IntN(100) < 90 {
			w.read()
		} else {
			w.write()
		}
	}
	t.Logf("seed %d: %d steps, %d reads (%d HIT, %d MISS, %d BYPASS), %d writes, %d rule changes",
		seed, *differentialSteps, w.reads, w.headers["HIT"], w.headers["MISS"], w.headers["BYPASS"], w.writes, w.ruleChanges)
	if w.reads > 100 && w.headers["HIT"]*10 < w.reads {
		t.Fatalf("only %d of %d reads were HITs: the test no longer exercises the cache", w.headers["HIT"], w.reads)
	}
}

const differentialCollections = 4

type differentialWorld struct {
	t               *testing.T
	seed            uint64
	rng             *rand.Rand
	app             core.App
	cached, plain   string // the servers' URLs: with hapta's cache, and PocketBase alone
	client          *http.Client
	callers         []differentialCaller
	users           []*core.Record
	live            map[string][]string // record ids by collection
	dead            []string
	recent          []differentialRead
	history         []string
	step, addresses int

	reads, writes, ruleChanges int
	headers                    map[string]int
}

type differentialCaller struct{ name, token string }

type differentialRead struct {
	caller differentialCaller
	path   string
}

func newDifferentialWorld(t *testing.T, seed uint64) *differentialWorld {
	// PocketBase logs each legacy name(field) expand on the standard logger
	log.SetOutput(io.Discard)
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	w := &differentialWorld{
		t: t, seed: seed, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		live: map[string][]string{}, headers: map[string]int{},
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}},
	}
	entries := []string{`"users": {"http": true, "ttl": "1h"}`, `"v0": {"http": true, "ttl": "1h"}`}
	for i := range differentialCollections {
		entries = append(entries, fmt.Sprintf(`"c%d": {"http": true, "ttl": "1h"}`, i))
	}
	w.app = haptaApp(t, `{"logLevel": "error", "cache": {"collections": {`+strings.Join(entries, ",")+`}}}`)
	w.createSchema()
	cached, err := testsupport.Serve(t, w.app)
	if err != nil {
		t.Fatal(err)
	}
	w.cached = cached.URL
	// PocketBase's router built as hapta's private ones are: a second
	// apis.NewRouter would bind PocketBase's realtime broadcasts again
	plain := httptest.NewServer(inproc.New(w.app, false))
	t.Cleanup(plain.Close)
	w.plain = plain.URL
	w.createCallersAndRecords()
	return w
}

func (w *differentialWorld) createSchema() {
	settings := w.app.Settings()
	// every request comes from its own address: PocketBase slows down
	// repeated empty filtered lists per address, which would only slow
	// the test
	settings.TrustedProxy.Headers = []string{"X-Forwarded-For"}
	settings.Logs.MaxDays = 0 // no request log: a long run would mostly write it
	if err := w.app.Save(settings); err != nil {
		w.t.Fatal(err)
	}
	users, _ := w.app.FindCollectionByNameOrId("users")
	collections := make([]*core.Collection, differentialCollections)
	for i := range collections {
		c := core.NewBaseCollection(fmt.Sprintf("c%d", i))
		c.Fields.Add(&core.TextField{Name: "title"}, &core.NumberField{Name: "n"}, &core.BoolField{Name: "flag"},
			&core.RelationField{Name: "owner", CollectionId: users.Id, MaxSelect: 1},
			&core.AutodateField{Name: "created", OnCreate: true})
		if err := w.app.Save(c); err != nil {
			w.t.Fatal(err)
		}
		collections[i] = c
	}
	for i, c := range collections {
		c.Fields.Add(
			&core.RelationField{Name: "ref", CollectionId: collections[(i+1)%differentialCollections].Id, MaxSelect: 1},
			&core.RelationField{Name: "refs", CollectionId: collections[(i+2)%differentialCollections].Id, MaxSelect: 5})
		if err := w.app.Save(c); err != nil {
			w.t.Fatal(err)
		}
	}
	for i := range collections {
		w.changeRules(i)
	}
	view := core.NewViewCollection("v0")
	view.ViewQuery = "SELECT c0.id, c0.title, c0.n, c0.owner, c1.title AS reftitle FROM c0 LEFT JOIN c1 ON c1.id = c0.ref"
	if err := w.app.Save(view); err != nil {
		w.t.Fatal(err)
	}
	w.changeViewRules()
}

// the view collection v0 joins c0 and c1; its rules, filters and sorts
var (
	differentialViewRules   = []string{"", "nil", "owner = @request.auth.id", "n > 2", "reftitle ~ 'a'", "owner.verified = true"}
	differentialViewFilters = []string{"", "n > 1", "reftitle = 'apple'", "owner.email ~ 'u'", "owner = @request.auth.id"}
	differentialViewSorts   = []string{"", "-n,id", "reftitle,id"}
)

func (w *differentialWorld) changeViewRules() {
	view, err := w.app.FindCollectionByNameOrId("v0")
	if err != nil {
		w.t.Fatal(err)
	}
	rule := func() *string {
		if rule := w.pick(differentialViewRules); rule != "nil" {
			return types.Pointer(rule)
		}
		return nil
	}
	view.ListRule, view.ViewRule = rule(), rule()
	if err := w.app.Save(view); err != nil {
		w.t.Fatal(err)
	}
	w.log("rules of v0: list %s, view %s", show(view.ListRule), show(view.ViewRule))
}

func (w *differentialWorld) createCallersAndRecords() {
	w.callers = append(w.callers, differentialCaller{name: "anonymous"})
	for i := range 4 {
		user, token := testsupport.NewAuthRecord(w.t, w.app, "users", fmt.Sprintf("u%d@example.com", i))
		user.SetEmailVisibility(i%2 == 0)
		user.SetVerified(i < 2)
		if err := w.app.Save(user); err != nil {
			w.t.Fatal(err)
		}
		w.users = append(w.users, user)
		w.live["users"] = append(w.live["users"], user.Id)
		w.callers = append(w.callers, differentialCaller{name: user.Email(), token: token})
	}
	_, superToken := testsupport.NewAuthRecord(w.t, w.app, core.CollectionNameSuperusers, "root@example.com")
	w.callers = append(w.callers, differentialCaller{name: "superuser", token: superToken})
	for range 6 {
		for i := range differentialCollections {
			w.create(i)
		}
	}
}

// the generated rules, filters, sorts and expands; {other} names another
// collection, {back} the one whose ref points here
var (
	differentialRules = []string{
		"", "nil", `owner = @request.auth.id`,
		"// only the owner's, or flagged ones\nowner = @request.auth.id || flag = true",
		`@request.auth.id != "" && n > 2`, `ref.flag = true`, `ref.owner = @request.auth.id`,
		`@collection.{other}.owner ?= @request.auth.id && @collection.{other}.flag ?= true`,
		`{back}_via_ref.n ?> 3`, `created <= @now`, `strftime('%Y', created) > '2000'`,
		`title:lower ~ 'a'`, `refs:length > 1`, `@request.auth.verified = true`, `owner.verified = true`,
		`geoDistance(n, n, 0, 0) < 500 && @request.auth.email ~ 'u'`,
	}
	differentialFilters = []string{
		"", `n > 3`, `flag = true`, `ref.flag = true`, `owner.email ~ 'u1'`, `owner.verified = true`,
		"title ~ 'a' // the title's", `refs:length > 1`, `{back}_via_ref.n > 1`, `created > @yesterday`,
		`strftime('%Y', created) > '1999'`, `refs.owner ?= owner`, `title:lower = 'apple'`, `ref.ref.n > 2`,
		`@request.auth.id != ""`,
	}
	differentialSorts   = []string{"", "-n,id", "title,-created,id", "ref.n,id", "owner.verified,-id", "@rowid"}
	differentialExpands = []string{
		"", "owner", "ref", "refs", "ref.owner", "{back}_via_ref", "{back}(ref)", " ref . owner ", ".ref",
		"ref,owner", "refs.ref.owner", "{back}_via_ref.owner",
	}
	differentialTitles = []string{"apple", "Banana", "cherry", "Date", "avocado"}
)

func (w *differentialWorld) fill(template string, i int) string {
	other := (i + 1 + w.rng.IntN(differentialCollections-1)) % differentialCollections
	back := (i + differentialCollections - 1) % differentialCollections
	template = strings.ReplaceAll(template, "{other}", fmt.Sprintf("c%d", other))
	return strings.ReplaceAll(template, "{back}", fmt.Sprintf("c%d", back))
}

func (w *differentialWorld) pick(list []string) string { return list[w.rng.IntN(len(list))] }

func (w *differentialWorld) randomRule(i int) *string {
	rule := w.pick(differentialRules)
	if rule == "nil" {
		return nil
	}
	return types.Pointer(w.fill(rule, i))
}

func (w *differentialWorld) changeRules(i int) {
	collection, err := w.app.FindCollectionByNameOrId(fmt.Sprintf("c%d", i))
	if err != nil {
		w.t.Fatal(err)
	}
	collection.ListRule, collection.ViewRule = w.randomRule(i), w.randomRule(i)
	if err := w.app.Save(collection); err != nil {
		w.t.Fatalf("seed %d: rules %v / %v: %v", w.seed, collection.ListRule, collection.ViewRule, err)
	}
	w.log("rules of c%d: list %s, view %s", i, show(collection.ListRule), show(collection.ViewRule))
}

func show(rule *string) string {
	if rule == nil {
		return "superusers only"
	}
	return fmt.Sprintf("%q", *rule)
}

func (w *differentialWorld) log(format string, args ...any) {
	w.history = append(w.history, fmt.Sprintf("step %d: ", w.step)+fmt.Sprintf(format, args...))
	if len(w.history) > 40 {
		w.history = w.history[1:]
	}
}

func (w *differentialWorld) randomID(collection string) string {
	ids := w.live[collection]
	if len(ids) == 0 || (len(w.dead) > 0 && w.rng.IntN(10) == 0) {
		if len(w.dead) == 0 {
			return "missing0000000"
		}
		return w.pick(w.dead)
	}
	return w.pick(ids)
}

func (w *differentialWorld) setFields(record *core.Record, i int) {
	record.Set("title", w.pick(differentialTitles))
	record.Set("n", w.rng.IntN(6))
	record.Set("flag", w.rng.IntN(2) == 0)
	record.Set("owner", w.users[w.rng.IntN(len(w.users))].Id)
	if ids := w.live[fmt.Sprintf("c%d", (i+1)%differentialCollections)]; len(ids) > 0 && w.rng.IntN(4) > 0 {
		record.Set("ref", w.pick(ids))
	}
	var refs []string
	for ids := w.live[fmt.Sprintf("c%d", (i+2)%differentialCollections)]; len(ids) > 0 && len(refs) < w.rng.IntN(4); {
		refs = append(refs, w.pick(ids))
	}
	record.Set("refs", refs)
}

func (w *differentialWorld) create(i int) {
	collection, _ := w.app.FindCachedCollectionByNameOrId(fmt.Sprintf("c%d", i))
	record := core.NewRecord(collection)
	w.setFields(record, i)
	if err := w.app.Save(record); err != nil {
		w.t.Fatal(err)
	}
	w.live[collection.Name] = append(w.live[collection.Name], record.Id)
	w.log("created c%d/%s", i, record.Id)
}

func (w *differentialWorld) write() {
	w.writes++
	i := w.rng.IntN(differentialCollections)
	name := fmt.Sprintf("c%d", i)
	switch roll := w.rng.IntN(100); {
	case roll < 4:
		w.ruleChanges++
		if w.rng.IntN(5) == 0 {
			w.changeViewRules()
		} else {
			w.changeRules(i)
		}
	case (roll < 30 && len(w.live[name]) < 40) || len(w.live[name]) < 3:
		w.create(i)
	case roll < 38 || len(w.live[name]) >= 40:
		ids := w.live[name]
		k := w.rng.IntN(len(ids))
		record, err := w.app.FindRecordById(name, ids[k])
		if err != nil {
			w.t.Fatal(err)
		}
		if err := w.app.Delete(record); err != nil {
			w.t.Fatal(err)
		}
		w.live[name] = append(ids[:k:k], ids[k+1:]...)
		w.dead = append(w.dead, record.Id)
		w.log("deleted %s/%s", name, record.Id)
	case roll < 55:
		user := w.users[w.rng.IntN(len(w.users))]
		user.SetVerified(!user.Verified())
		user.SetEmailVisibility(w.rng.IntN(2) == 0)
		if err := w.app.Save(user); err != nil {
			w.t.Fatal(err)
		}
		w.log("updated user %s", user.Email())
	case roll < 70:
		w.updateOneField(i)
	case roll < 75:
		w.blindUpdate(i)
	case roll < 80:
		w.patchOverHTTP(i)
	default:
		record, err := w.app.FindRecordById(name, w.pick(w.live[name]))
		if err != nil {
			w.t.Fatal(err)
		}
		w.setFields(record, i)
		if err := w.app.Save(record); err != nil {
			w.t.Fatal(err)
		}
		w.log("updated %s/%s", name, record.Id)
	}
}

// updateOneField changes one field of a record (or none), which leaves
// lists that read neither that field nor the record cached.
func (w *differentialWorld) updateOneField(i int) {
	name := fmt.Sprintf("c%d", i)
	record, err := w.app.FindRecordById(name, w.pick(w.live[name]))
	if err != nil {
		w.t.Fatal(err)
	}
	changed := core.NewRecord(record.Collection())
	w.setFields(changed, i)
	field := w.pick([]string{"title", "n", "flag", "owner", "ref", "refs", "none"})
	if field != "none" {
		record.Set(field, changed.Get(field))
	}
	// inside a transaction an update's fields are known; outside one it
	// counts as changing everything
	save := w.app.Save
	if w.rng.IntN(4) > 0 {
		save = func(m core.Model) error {
			return w.app.RunInTransaction(func(tx core.App) error { return tx.Save(m) })
		}
	}
	if err := save(record); err != nil {
		w.t.Fatal(err)
	}
	w.log("updated %s/%s: %s = %v", name, record.Id, field, record.Get(field))
}

// blindUpdate saves a record built without reading it: its Original() is
// blank, and every field it does not set is written empty.
func (w *differentialWorld) blindUpdate(i int) {
	name := fmt.Sprintf("c%d", i)
	collection, _ := w.app.FindCachedCollectionByNameOrId(name)
	record := core.NewRecord(collection)
	record.Id = w.pick(w.live[name])
	record.MarkAsNotNew()
	record.Set("title", w.pick(differentialTitles))
	if err := w.app.RunInTransaction(func(tx core.App) error { return tx.Save(record) }); err != nil {
		w.t.Fatal(err)
	}
	w.log("blindly updated %s/%s: title %q, the rest empty", name, record.Id, record.GetString("title"))
}

// patchOverHTTP changes a field through PocketBase's API, as the JS SDK
// and the admin UI do.
func (w *differentialWorld) patchOverHTTP(i int) {
	name := fmt.Sprintf("c%d", i)
	id := w.pick(w.live[name])
	values := map[string]any{"title": w.pick(differentialTitles), "n": w.rng.IntN(6), "flag": w.rng.IntN(2) == 0}
	field := w.pick([]string{"title", "n", "flag"})
	body, _ := json.Marshal(map[string]any{field: values[field]})
	superuser := w.callers[len(w.callers)-1]
	res := testsupport.CallJSON(w.t, "PATCH", w.plain+"/api/collections/"+name+"/records/"+id, string(body), "Authorization", superuser.token)
	if res.Status != http.StatusOK {
		w.t.Fatalf("PATCH %s/%s: %d %s", name, id, res.Status, res.Raw)
	}
	w.log("patched %s/%s: %s", name, id, body)
}

// newRead makes up a read: a caller, a collection, a list with filter,
// sort, expand and paging, or a view with expand.
func (w *differentialWorld) newRead() differentialRead {
	caller := w.callers[w.rng.IntN(len(w.callers))]
	i := w.rng.IntN(differentialCollections + 2)
	name, source := fmt.Sprintf("c%d", i), fmt.Sprintf("c%d", i)
	expands, filters, sorts := differentialExpands, differentialFilters, differentialSorts
	switch i {
	case differentialCollections:
		name, source = "users", "users"
		expands, filters, sorts = []string{""}, []string{"", "verified = true", "email ~ 'u'"}, []string{"", "-email"}
	case differentialCollections + 1:
		name, source = "v0", "c0"
		expands, filters, sorts = []string{"", "owner"}, differentialViewFilters, differentialViewSorts
	}
	query := url.Values{}
	setIf := func(key, value string) {
		if value != "" {
			query.Set(key, value)
		}
	}
	setIf("expand", w.fill(w.pick(expands), i))
	if w.rng.IntN(5) == 0 {
		setIf("fields", w.pick([]string{"id,title", "*,expand.owner.email", "id,email"}))
	}
	path := "/api/collections/" + name + "/records"
	if w.rng.IntN(3) == 0 {
		path += "/" + w.randomID(source)
	} else {
		setIf("filter", w.fill(w.pick(filters), i))
		setIf("sort", w.pick(sorts))
		setIf("perPage", w.pick([]string{"", "", "2"}))
		setIf("page", w.pick([]string{"", "", "2"}))
		setIf("skipTotal", w.pick([]string{"", "", "1"}))
	}
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	return differentialRead{caller: caller, path: path}
}

func (w *differentialWorld) read() {
	w.reads++
	var r differentialRead
	switch roll := w.rng.IntN(100); {
	case roll < 55 && len(w.recent) > 0:
		r = w.recent[w.rng.IntN(len(w.recent))] // again, by the same caller
	case roll < 75 && len(w.recent) > 0:
		r = w.recent[w.rng.IntN(len(w.recent))] // again, by another caller
		r.caller = w.callers[w.rng.IntN(len(w.callers))]
	default:
		r = w.newRead()
		w.recent = append(w.recent, r)
		if len(w.recent) > 20 {
			w.recent = w.recent[1:]
		}
	}
	cachedStatus, cachedType, cachedBody, header := w.get(w.cached, r)
	plainStatus, plainType, plainBody, _ := w.get(w.plain, r)
	w.headers[header]++
	w.log("%s reads %s: %s %d", r.caller.name, r.path, header, cachedStatus)
	if cachedStatus != plainStatus || cachedType != plainType || !sameJSON(cachedBody, plainBody) {
		w.t.Fatalf("seed %d, step %d: %s reads %s\ncached (%s): %d %s %s\nPocketBase: %d %s %s\nhistory:\n%s",
			w.seed, w.step, r.caller.name, r.path, header, cachedStatus, cachedType, cachedBody,
			plainStatus, plainType, plainBody, strings.Join(w.history, "\n"))
	}
}

func (w *differentialWorld) get(server string, r differentialRead) (int, string, string, string) {
	req, err := http.NewRequest("GET", server+r.path, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	if r.caller.token != "" {
		req.Header.Set("Authorization", r.caller.token)
	}
	w.addresses++
	req.Header.Set("X-Forwarded-For", fmt.Sprintf("10.%d.%d.%d", w.addresses>>16&255, w.addresses>>8&255, w.addresses&255))
	res, err := w.client.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		w.t.Fatal(err)
	}
	return res.StatusCode, res.Header.Get("Content-Type"), string(body), res.Header.Get(recordcache.Header)
}

// sameJSON compares two answers as JSON values: PocketBase writes the
// objects of a `fields` pick in map order, which varies between calls.
func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return a == b
	}
	return reflect.DeepEqual(x, y)
}
