package jsroutes

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dop251/goja"

	"github.com/postr-inc/hapta/internal/testsupport"
)

// routes writes files (path, content, path, content, ...) under a new
// folder and scans it.
func routes(t *testing.T, files ...string) *Table {
	t.Helper()
	root := t.TempDir()
	testsupport.WriteTree(t, root, files...)
	table, err := Scan(root, "")
	if err != nil {
		t.Fatal(err)
	}
	return table
}

func arg(value any) func(*goja.Runtime) ([]goja.Value, func()) {
	return func(runtime *goja.Runtime) ([]goja.Value, func()) {
		return []goja.Value{runtime.ToValue(value)}, func() {}
	}
}

func TestCallRunsTheExportedMethodWithItsHelpers(t *testing.T) {
	t.Parallel()
	table := routes(t,
		"posts/[id]/index.js", `const { shout } = require("../../_lib/text.js");
			module.exports = { GET: (ctx) => ({ id: shout(ctx.id) }), POST: (ctx) => ctx.id.length }`,
		"_lib/text.js", `module.exports.shout = (s) => s.toUpperCase() + "!"`,
	)
	g, err := Load(table, 2, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	route := &table.Routes[0]
	if methods := g.MethodsOf(route); !slices.Equal(methods, []string{"GET", "POST"}) {
		t.Fatalf("methods %v", methods)
	}
	var wg sync.WaitGroup
	for range 8 { // more callers than VMs: they wait their turn
		wg.Go(func() {
			result, err := g.Call(context.Background(), route, "GET", arg(map[string]any{"id": "abc"}))
			if err != nil {
				t.Error(err)
				return
			}
			if got, _ := Export(result).(map[string]any); got["id"] != "ABC!" {
				t.Errorf("GET answered %v", got)
			}
		})
	}
	wg.Wait()
}

func TestARunawayHandlerIsInterrupted(t *testing.T) {
	t.Parallel()
	table := routes(t, "spin/index.js", `module.exports = { GET: () => { for (;;) {} }, POST: () => "after" }`)
	g, err := Load(table, 1, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	if _, err := g.Call(context.Background(), &table.Routes[0], "GET", arg(nil)); !errors.Is(err, ErrTimeout) {
		t.Fatalf("a runaway handler: %v", err)
	}
	if elapsed := time.Since(started); elapsed > 2*time.Second {
		t.Fatalf("interrupted after %v", elapsed)
	}
	// the VM serves the next call
	if result, err := g.Call(context.Background(), &table.Routes[0], "POST", arg(nil)); err != nil || result.String() != "after" {
		t.Fatalf("the call after an interrupted one: %v %v", result, err)
	}
}

func TestABrokenFileIsReportedWithItsPlace(t *testing.T) {
	t.Parallel()
	table := routes(t, "ok/index.js", `module.exports = {}`, "bad/index.js", "module.exports = {\n  GET: () => {\n    return (1 +;\n  }\n}")
	_, err := Load(table, 1, time.Second)
	if err == nil || !strings.Contains(err.Error(), "bad/index.js") || !strings.Contains(err.Error(), "3:") {
		t.Fatalf("a syntax error: %v", err)
	}
}

func TestRequireStaysInsideTheRoutesFolder(t *testing.T) {
	t.Parallel()
	outside := filepath.Join(t.TempDir(), "secret.js")
	if err := os.WriteFile(outside, []byte(`module.exports = "secret"`), 0o644); err != nil {
		t.Fatal(err)
	}
	table := routes(t, "a/index.js", `module.exports = { GET: () => require(`+"`"+outside+"`"+`) }`)
	g, err := Load(table, 1, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if result, err := g.Call(context.Background(), &table.Routes[0], "GET", arg(nil)); err == nil {
		t.Fatalf("a require outside the routes folder answered %v", result)
	}
}
