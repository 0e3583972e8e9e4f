package main

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const modulePath = "github.com/postr-inc/hapta"

// Every import of a Hapta package by a Hapta package (tests aside) is one
// that docs/architecture.md's table of rooms allows.
func TestTheImportsFollowTheMap(t *testing.T) {
	t.Parallel()
	allowed := roomsOfTheMap(t)
	err := filepath.WalkDir(".", func(file string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "pb_data") && file != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(file, ".go") || strings.HasSuffix(file, "_test.go") {
			return nil
		}
		parsed, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		room := filepath.ToSlash(filepath.Dir(file))
		for _, spec := range parsed.Imports {
			imported, _ := strconv.Unquote(spec.Path.Value)
			target, ok := strings.CutPrefix(imported, modulePath+"/")
			if !ok {
				continue
			}
			if !slices.Contains(allowed[roomOf(room, allowed)], roomOf(target, allowed)) {
				t.Errorf("%s imports %s, which docs/architecture.md does not allow", file, target)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// roomsOfTheMap reads the table: package -> the Hapta packages it may import.
func roomsOfTheMap(t *testing.T) map[string][]string {
	t.Helper()
	doc, err := os.ReadFile("docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	code := regexp.MustCompile("`([^`]+)`")
	rooms := map[string][]string{}
	for _, line := range strings.Split(string(doc), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) != 5 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		var allowed []string
		for _, m := range code.FindAllStringSubmatch(cells[3], -1) {
			allowed = append(allowed, m[1])
		}
		for _, m := range code.FindAllStringSubmatch(cells[1], -1) {
			rooms[strings.TrimSuffix(m[1], " (main.go)")] = allowed
		}
	}
	if len(rooms) < 8 {
		t.Fatalf("read %d rooms from docs/architecture.md's table", len(rooms))
	}
	return rooms
}

// roomOf is the row of the table a package belongs to: its own, or the
// row of an ancestor written with /* (routes/*).
func roomOf(pkg string, rooms map[string][]string) string {
	if _, ok := rooms[pkg]; ok {
		return pkg
	}
	for dir := path.Dir(pkg); dir != "."; dir = path.Dir(dir) {
		if _, ok := rooms[dir+"/*"]; ok {
			return dir + "/*"
		}
	}
	return pkg
}
