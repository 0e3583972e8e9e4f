package jsroutes

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// tree writes files (path → content) under a new folder.
func tree(t *testing.T, files ...string) string {
	t.Helper()
	root := t.TempDir()
	for _, file := range files {
		full := filepath.Join(root, filepath.FromSlash(file))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("module.exports = {}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestScanMapsFoldersToRoutes(t *testing.T) {
	t.Parallel()
	root := tree(t,
		"index.js",
		"_middleware.js",
		"auth/index.js",
		"auth/schema.js",
		"auth/helpers.js", // a helper: never a route
		"posts/_middleware.js",
		"posts/[id]/index.js",
		"posts/[id]/schema.json",
		"posts/[id]/comments/index.js",
		"files/[...rest]/index.js",
		"_lib/index.js",      // private: never a route
		"_lib/util/index.js", // nor below it
		".hidden/index.js",   // nor hidden folders
		"empty/nothing-here.js",
	)
	table, err := Scan(root, "/js")
	if err != nil {
		t.Fatal(err)
	}
	want := []Route{
		{Pattern: "/js/auth", Dir: "auth", Handler: "auth/index.js", Schema: "auth/schema.js", Middlewares: []string{"_middleware.js"}},
		{Pattern: "/js/files/{rest...}", Dir: "files/[...rest]", Handler: "files/[...rest]/index.js", Middlewares: []string{"_middleware.js"},
			Params: []string{"rest"}, CatchAll: "rest"},
		{Pattern: "/js/posts/{id}", Dir: "posts/[id]", Handler: "posts/[id]/index.js", Schema: "posts/[id]/schema.json",
			Middlewares: []string{"_middleware.js", "posts/_middleware.js"}, Params: []string{"id"}},
		{Pattern: "/js/posts/{id}/comments", Dir: "posts/[id]/comments", Handler: "posts/[id]/comments/index.js",
			Middlewares: []string{"_middleware.js", "posts/_middleware.js"}, Params: []string{"id"}},
		{Pattern: "/js/{$}", Dir: ".", Handler: "index.js", Middlewares: []string{"_middleware.js"}},
	}
	if !reflect.DeepEqual(table.Routes, want) {
		t.Fatalf("routes:\n got %+v\nwant %+v", table.Routes, want)
	}
}

func TestScanRefusesAmbiguousOrMalformedFolders(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		files []string
		want  []string // every problem is reported
	}{
		{"two parameters side by side", []string{"posts/[id]/index.js", "posts/[slug]/index.js"}, []string{"posts/[id]/ and posts/[slug]/ answer the same paths"}},
		{"a catch-all that is not last", []string{"files/[...rest]/more/index.js"}, []string{"must be the last folder"}},
		{"a parameter twice", []string{"a/[id]/b/[id]/index.js"}, []string{`the parameter "id" appears twice`}},
		{"a bad parameter name", []string{"a/[1x]/index.js"}, []string{`"1x" is not an identifier`}},
		{"a folder name that is not a path segment", []string{"a b/index.js"}, []string{`"a b" is not a URL path segment`}},
		{"two schemas", []string{"a/index.js", "a/schema.js", "a/schema.json"}, []string{"has both schema.js and schema.json"}},
		{"several problems", []string{"x y/index.js", "z/[...r]/q/index.js"}, []string{`"x y"`, "must be the last folder"}},
	} {
		_, err := Scan(tree(t, c.files...), "")
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, want := range c.want {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %v, want %q", c.name, err, want)
			}
		}
	}
}

func TestScanFollowsALinkedFolder(t *testing.T) {
	t.Parallel()
	real := tree(t, "a/index.js")
	link := filepath.Join(t.TempDir(), "current")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	table, err := Scan(link, "")
	if err != nil || len(table.Routes) != 1 {
		t.Fatalf("a linked routes folder: %+v %v", table, err)
	}
	if _, err := Load(table, 1, time.Second); err != nil {
		t.Fatal("loading a linked routes folder:", err)
	}
}

func TestScanWithoutAFolderOrPrefix(t *testing.T) {
	t.Parallel()
	table, err := Scan(filepath.Join(t.TempDir(), "pb_routes"), "")
	if err != nil || len(table.Routes) != 0 {
		t.Fatalf("a missing folder: %+v %v", table, err)
	}
	table, err = Scan(tree(t, "index.js", "a/index.js"), "")
	if err != nil || table.Routes[0].Pattern != "/a" || table.Routes[1].Pattern != "/{$}" {
		t.Fatalf("no prefix: %+v %v", table, err)
	}
	if _, err := Scan(tree(t, "a/index.js"), "js"); err == nil {
		t.Fatal("a prefix without its leading slash was taken")
	}
}
