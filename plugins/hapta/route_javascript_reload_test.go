package hapta

import (
	"bufio"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/internal/testsupport"
)

func TestJavaScriptRoutesReloadInPlace(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(file, content string) { t.Helper(); testsupport.WriteTree(t, dir, file, content) }
	write("a/index.js", `module.exports = { GET: (ctx) => ctx.text("v1") }`)
	console := &testsupport.SyncBuffer{}
	reload := true
	app := testsupport.NewApp(t, func(app core.App) {
		config := Config{ConfigFile: writeConfig(t, `{}`).path, Settings: Settings{Routes: RoutesSettings{Dir: dir, Reload: &reload}}}
		if _, err := register(app, nil, config, console); err != nil {
			t.Fatal(err)
		}
	})
	server, err := testsupport.Serve(t, app)
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, string) {
		answer := testsupport.Call(t, "GET", server.URL+path, "", nil)
		return answer.Status, string(answer.Raw)
	}
	eventually := func(what string, check func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !check(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting until %s (console: %s)", what, console)
			}
		}
	}
	if status, body := get("/a"); status != 200 || body != "v1" {
		t.Fatalf("GET /a: %d %s", status, body)
	}

	// a realtime client connected through every reload
	stream, err := http.Get(server.URL + "/api/realtime")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	closed := make(chan struct{})
	go func() {
		reader := bufio.NewReader(stream.Body)
		for {
			if _, err := reader.ReadString('\n'); err != nil {
				close(closed)
				return
			}
		}
	}()

	write("a/index.js", `module.exports = { GET: (ctx) => ctx.text("v2") }`)
	eventually("an edited route answers anew", func() bool { _, body := get("/a"); return body == "v2" })
	write("b/index.js", `module.exports = { GET: (ctx) => ctx.text("b") }`)
	eventually("an added route answers", func() bool { status, _ := get("/b"); return status == 200 })
	if err := os.RemoveAll(filepath.Join(dir, "a")); err != nil {
		t.Fatal(err)
	}
	eventually("a removed route is gone", func() bool { status, _ := get("/a"); return status == 404 })

	// a request in flight finishes on the code it started with
	write("slow/index.js", `module.exports = { GET: (ctx) => { const end = Date.now() + 600; while (Date.now() < end) {} return ctx.text("old") } }`)
	eventually("the slow route answers", func() bool { status, _ := get("/slow"); return status == 200 })
	inFlight := make(chan string, 1)
	go func() { _, body := get("/slow"); inFlight <- body }()
	time.Sleep(150 * time.Millisecond)
	write("slow/index.js", `module.exports = { GET: (ctx) => ctx.text("new") }`)
	eventually("the edited slow route answers anew", func() bool { _, body := get("/slow"); return body == "new" })
	if body := <-inFlight; body != "old" {
		t.Fatalf("the request in flight answered %q", body)
	}

	write("b/index.js", "module.exports = {\n  GET: (ctx) => ctx.text(\"broken\"\n}")
	eventually("the broken file is logged with its place", func() bool {
		return strings.Contains(console.String(), "not reloaded") && strings.Contains(console.String(), "b/index.js: SyntaxError") &&
			strings.Contains(console.String(), "Line 3:1")
	})
	if status, body := get("/b"); status != 200 || body != "b" {
		t.Fatalf("the previous route after a broken edit: %d %s", status, body)
	}
	select {
	case <-closed:
		t.Fatal("the realtime client was disconnected by a reload")
	default:
	}
}
