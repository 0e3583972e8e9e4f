package hapta

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/postr-inc/hapta/internal/testsupport"
)

// The page of TestTheJSSDKsRealtimeWorksUnchanged: PocketBase's JS SDK
// (testdata/jssdk, the npm package's UMD build), a log of the events its
// subscriptions receive.
const jsSDKPage = `<!doctype html><html><body>
<script src="/jssdk/pocketbase.umd.js"></script>
<script>
window.pb = new PocketBase(location.origin);
window.log = [];
window.into = (tag) => (e) => log.push([tag, e.action, e.record.title || "", (e.record.expand && e.record.expand.owner) ? e.record.expand.owner.email : ""].join("|"));
</script></body></html>`

// PocketBase's JS SDK in Chromium, against hapta's fan-out: subscriptions
// to a collection with and without filter and expand options and to one
// record, an unsubscribe, and the SDK's own reconnect after the server
// drops its connection.
func TestTheJSSDKsRealtimeWorksUnchanged(t *testing.T) {
	t.Parallel()
	app := haptaApp(t, `{"logLevel": "error"}`)
	users, _ := app.FindCollectionByNameOrId("users")
	notes := core.NewBaseCollection("notes")
	notes.ListRule, notes.ViewRule = types.Pointer("owner = @request.auth.id"), types.Pointer("owner = @request.auth.id")
	notes.Fields.Add(&core.TextField{Name: "title"}, &core.RelationField{Name: "owner", CollectionId: users.Id, MaxSelect: 1})
	if err := app.Save(notes); err != nil {
		t.Fatal(err)
	}
	user, _ := testsupport.NewAuthRecord(t, app, "users", "sdk@example.com")
	other, _ := testsupport.NewAuthRecord(t, app, "users", "other@example.com")
	first := testsupport.SaveRecord(t, app, "notes", map[string]any{"title": "first", "owner": user.Id})
	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		se.Router.GET("/jssdk/page", func(e *core.RequestEvent) error { return e.HTML(200, jsSDKPage) })
		se.Router.GET("/jssdk/{file}", func(e *core.RequestEvent) error {
			return e.FileFS(os.DirFS("testdata/jssdk"), e.Request.PathValue("file"))
		})
		return se.Next()
	})
	server, err := testsupport.Serve(t, app)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testsupport.Browser(t, 60*time.Second)
	if _, err := chromedp.Run(ctx, chromedp.Navigate(server.URL+"/jssdk/page")); err != nil {
		t.Fatal(err)
	}
	run := func(script string) {
		t.Helper()
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](script, chromedp.EvalAwaitPromise)); err != nil || !ok {
			t.Fatalf("%s: %v", script, err)
		}
	}
	run(`pb.collection("users").authWithPassword("sdk@example.com", "password-for-tests-1").then(() => true)`)
	run(`pb.collection("notes").subscribe("*", into("all")).then(() => true)`)
	run(`pb.collection("notes").subscribe("*", into("kept"), {filter: 'title ~ "keep"', expand: "owner"}).then((u) => { window.unsubscribeKept = u; return true })`)
	run(fmt.Sprintf(`pb.collection("notes").subscribe(%q, into("one")).then(() => true)`, first.Id))

	testsupport.SaveRecord(t, app, "notes", map[string]any{"title": "keep 1", "owner": user.Id})
	testsupport.SaveRecord(t, app, "notes", map[string]any{"title": "drop 1", "owner": user.Id})
	testsupport.SaveRecord(t, app, "notes", map[string]any{"title": "keep, not mine", "owner": other.Id})
	first.Set("title", "first, edited")
	if err := app.Save(first); err != nil {
		t.Fatal(err)
	}
	waitForLog(t, ctx, "all|create|keep 1|", "all|create|drop 1|", "kept|create|keep 1|sdk@example.com",
		"all|update|first, edited|", "one|update|first, edited|")
	if log := readLog(t, ctx); slices.ContainsFunc(log, func(line string) bool { return strings.Contains(line, "not mine") }) ||
		slices.Contains(log, "kept|create|drop 1|") {
		t.Fatalf("a message the caller may not see, or that its filter excludes: %q", log)
	}

	run(`unsubscribeKept().then(() => true)`)
	testsupport.SaveRecord(t, app, "notes", map[string]any{"title": "keep 2", "owner": user.Id})
	waitForLog(t, ctx, "all|create|keep 2|")
	if slices.Contains(readLog(t, ctx), "kept|create|keep 2|sdk@example.com") {
		t.Fatal("a message after its unsubscribe")
	}

	// the server drops the connection; the SDK connects again by itself and
	// subscribes again
	before, err := chromedp.Run(ctx, chromedp.Evaluate[string](`pb.realtime.clientId`))
	if err != nil {
		t.Fatal(err)
	}
	for _, client := range app.SubscriptionsBroker().Clients() {
		app.SubscriptionsBroker().Unregister(client.Id())
	}
	for i := 0; ; i++ {
		title := fmt.Sprintf("after reconnect %d", i)
		testsupport.SaveRecord(t, app, "notes", map[string]any{"title": title, "owner": user.Id})
		if waitForLogWithin(t, ctx, 300*time.Millisecond, "all|create|"+title+"|") {
			break
		}
		if i == 30 {
			t.Fatalf("no event after the SDK's reconnect: %q", readLog(t, ctx))
		}
	}
	if after, err := chromedp.Run(ctx, chromedp.Evaluate[string](`pb.realtime.clientId`)); err != nil || after == before || after == "" {
		t.Fatalf("the SDK's client id before %q, after %q (%v)", before, after, err)
	}
}

func readLog(t *testing.T, ctx context.Context) []string {
	t.Helper()
	log, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`log`))
	if err != nil {
		t.Fatal(err)
	}
	return log
}

func waitForLog(t *testing.T, ctx context.Context, lines ...string) {
	t.Helper()
	if !waitForLogWithin(t, ctx, 10*time.Second, lines...) {
		t.Fatalf("the SDK's log %q lacks some of %q", readLog(t, ctx), lines)
	}
}

func waitForLogWithin(t *testing.T, ctx context.Context, within time.Duration, lines ...string) bool {
	t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(20 * time.Millisecond) {
		log := readLog(t, ctx)
		if !slices.ContainsFunc(lines, func(line string) bool { return !slices.Contains(log, line) }) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}
