package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The Go and JavaScript examples of the README and the hapta package's
// documentation are copies of code that is built and tested: each part of
// an example, headed by a "// path/to/file.go" (or .js) comment line, must
// appear line for line (indentation aside) in that file, so an example that
// stops working fails here.
func TestExamplesAreCompiledCode(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	examples := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	if len(examples) < 2 {
		t.Fatalf("the README has %d Go examples", len(examples))
	}
	for _, example := range examples {
		checkExample(t, example[1])
	}
	scripts := regexp.MustCompile("(?s)```js\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	if len(scripts) == 0 {
		t.Fatal("the README has no JavaScript example")
	}
	for _, script := range scripts {
		checkExample(t, script[1])
	}

	for doc, examples := range map[string]string{
		"plugins/hapta/doc.go":     "plugins/hapta/example_test.go",
		"plugins/clover/clover.go": "plugins/clover/example_test.go",
	} {
		checkPackageDoc(t, doc, examples)
	}
}

// checkPackageDoc checks the code of a package documentation against the
// examples file: each run of indented comment lines is a part of it.
func checkPackageDoc(t *testing.T, doc, examples string) {
	t.Helper()
	source, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	var part []string
	for _, line := range strings.Split(string(source), "\n") {
		if code, ok := strings.CutPrefix(line, "//\t"); ok {
			part = append(part, code)
			continue
		}
		if len(part) > 0 {
			checkExample(t, "// "+examples+"\n"+strings.Join(part, "\n"))
			part = nil
		}
	}
}

var fileHeading = regexp.MustCompile(`^// ([\w/.\[\]-]+\.(?:go|js))$`)

func checkExample(t *testing.T, example string) {
	t.Helper()
	file, part := "", []string{}
	check := func() {
		if file == "" {
			t.Errorf("an example does not name its file with a // path.go line:\n%s", example)
			return
		}
		source, err := os.ReadFile(file)
		if err != nil {
			t.Errorf("an example names %s: %v", file, err)
			return
		}
		if !containsLines(string(source), part) {
			t.Errorf("this example is not in %s as written:\n%s", file, strings.Join(part, "\n"))
		}
	}
	for _, line := range strings.Split(strings.TrimRight(example, "\n"), "\n") {
		if m := fileHeading.FindStringSubmatch(line); m != nil {
			if len(part) > 0 {
				check()
			}
			file, part = m[1], nil
			continue
		}
		part = append(part, line)
	}
	check()
}

// containsLines reports whether want's non-blank lines appear in source
// one after another, each compared without its indentation.
func containsLines(source string, want []string) bool {
	var trimmed []string
	for _, line := range want {
		if line = strings.TrimSpace(line); line != "" {
			trimmed = append(trimmed, line)
		}
	}
	var lines []string
	for _, line := range strings.Split(source, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			lines = append(lines, line)
		}
	}
	for start := 0; start+len(trimmed) <= len(lines); start++ {
		match := true
		for i, line := range trimmed {
			if lines[start+i] != line {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}
