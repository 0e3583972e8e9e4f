// Package jsroutes reads a folder of JavaScript route files (pb_routes/)
// into a route table: the folder path is the URL, as in the original
// framework. A folder holding index.js is a route; [name] folders are path
// parameters and a last [...name] folder a catch-all; _middleware.js
// applies to its folder and those below; schema.js or schema.json beside
// index.js holds the route's input schemas. Every other file is a helper,
// never routable itself, and folders whose names start with "_" are
// private: their files can be required, never routed.
package jsroutes

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// The file names that mean something in a routes folder.
const (
	HandlerFile    = "index.js"
	SchemaJSFile   = "schema.js"
	SchemaJSONFile = "schema.json"
	MiddlewareFile = "_middleware.js"
)

// Route is one routable folder.
type Route struct {
	// Pattern is the URL path pattern for PocketBase's router
	// (net/http's): "/auth", "/posts/{id}", "/files/{rest...}", "/{$}".
	Pattern string
	// Dir is the folder, relative to the root, with "/" separators.
	Dir string
	// Handler and Schema are file paths relative to the root; Schema is ""
	// for a route without one.
	Handler, Schema string
	// Middlewares are the _middleware.js files that apply, relative to the
	// root, outermost (the root's) first.
	Middlewares []string
	// Params are the names of the path parameters, in order; CatchAll is
	// the last one when it is a catch-all.
	Params   []string
	CatchAll string
}

// Table is every route of a routes folder.
type Table struct {
	Root   string
	Routes []Route // sorted by Pattern
}

var (
	plainSegment = regexp.MustCompile(`^[A-Za-z0-9._~-]+$`)
	paramName    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Scan reads root into a table, with prefix ("" or "/js", say) before
// every pattern. A missing root is an empty table. Every problem found is
// reported, each with the folder it is in.
func Scan(root, prefix string) (*Table, error) {
	root, err := filepath.Abs(root) // require takes a relative path for a package name
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(root); errors.Is(err, fs.ErrNotExist) {
		return &Table{Root: root}, nil
	}
	// the real folder: a deploy's "current" link is walked, and require,
	// which resolves links, finds its files inside it
	if root, err = filepath.EvalSymlinks(root); err != nil {
		return nil, err
	}
	table := &Table{Root: root}
	prefix = strings.TrimRight(prefix, "/")
	if prefix != "" && !strings.HasPrefix(prefix, "/") {
		return nil, fmt.Errorf("jsroutes: the prefix %q must start with /", prefix)
	}
	var problems []error
	middlewares := map[string][]string{} // dir → the middlewares that apply in it
	shapes := map[string]string{}        // the pattern with parameter names erased → its dir
	err = filepath.WalkDir(root, func(file string, entry fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, file)
		rel = filepath.ToSlash(rel)
		name := entry.Name()
		if rel != "." && strings.HasPrefix(name, ".") {
			if entry.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !entry.IsDir() {
			return nil
		}
		if rel != "." && strings.HasPrefix(name, "_") {
			return filepath.SkipDir // private: helpers only
		}
		inherited := middlewares[parentDir(rel)]
		if exists(filepath.Join(file, MiddlewareFile)) {
			inherited = append(slices.Clone(inherited), joinRel(rel, MiddlewareFile))
		}
		middlewares[rel] = inherited
		if !exists(filepath.Join(file, HandlerFile)) {
			return nil
		}
		route, err := newRoute(rel, prefix, file, inherited)
		if err != nil {
			problems = append(problems, err)
			return nil
		}
		shape := erasedShape(route.Pattern)
		if other, taken := shapes[shape]; taken {
			problems = append(problems, fmt.Errorf("jsroutes: %s and %s answer the same paths", displayDir(other), displayDir(rel)))
			return nil
		}
		shapes[shape] = rel
		table.Routes = append(table.Routes, route)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	slices.SortFunc(table.Routes, func(a, b Route) int { return strings.Compare(a.Pattern, b.Pattern) })
	return table, nil
}

// newRoute is the route of the folder rel, which holds index.js.
func newRoute(rel, prefix, dir string, middlewares []string) (Route, error) {
	route := Route{Dir: rel, Handler: joinRel(rel, HandlerFile), Middlewares: middlewares}
	js, json := exists(filepath.Join(dir, SchemaJSFile)), exists(filepath.Join(dir, SchemaJSONFile))
	switch {
	case js && json:
		return Route{}, fmt.Errorf("jsroutes: %s has both %s and %s; keep one", displayDir(rel), SchemaJSFile, SchemaJSONFile)
	case js:
		route.Schema = joinRel(rel, SchemaJSFile)
	case json:
		route.Schema = joinRel(rel, SchemaJSONFile)
	}
	if rel == "." {
		route.Pattern = prefix + "/{$}"
		return route, nil
	}
	segments := strings.Split(rel, "/")
	pattern := make([]string, len(segments))
	for i, segment := range segments {
		switch {
		case strings.HasPrefix(segment, "[...") && strings.HasSuffix(segment, "]"):
			name := segment[4 : len(segment)-1]
			if i != len(segments)-1 {
				return Route{}, fmt.Errorf("jsroutes: %s: a catch-all [...%s] must be the last folder", displayDir(rel), name)
			}
			if err := route.addParam(rel, name); err != nil {
				return Route{}, err
			}
			route.CatchAll = name
			pattern[i] = "{" + name + "...}"
		case strings.HasPrefix(segment, "[") && strings.HasSuffix(segment, "]"):
			name := segment[1 : len(segment)-1]
			if err := route.addParam(rel, name); err != nil {
				return Route{}, err
			}
			pattern[i] = "{" + name + "}"
		case plainSegment.MatchString(segment):
			pattern[i] = segment
		default:
			return Route{}, fmt.Errorf("jsroutes: %s: the folder name %q is not a URL path segment (letters, digits, . _ ~ -) nor [param] nor [...rest]", displayDir(rel), segment)
		}
	}
	route.Pattern = prefix + "/" + strings.Join(pattern, "/")
	return route, nil
}

func (r *Route) addParam(rel, name string) error {
	if !paramName.MatchString(name) {
		return fmt.Errorf("jsroutes: %s: the parameter name %q is not an identifier", displayDir(rel), name)
	}
	if slices.Contains(r.Params, name) {
		return fmt.Errorf("jsroutes: %s: the parameter %q appears twice", displayDir(rel), name)
	}
	r.Params = append(r.Params, name)
	return nil
}

// erasedShape is a pattern with its parameter names erased: two routes of
// one shape ([id] and [slug] side by side) would answer the same paths.
var paramInPattern = regexp.MustCompile(`\{[A-Za-z0-9_]+(\.\.\.)?\}`)

func erasedShape(pattern string) string {
	return paramInPattern.ReplaceAllString(pattern, "{$1}")
}

func exists(file string) bool {
	info, err := os.Stat(file)
	return err == nil && !info.IsDir()
}

func parentDir(rel string) string {
	if rel == "." {
		return ""
	}
	return path.Dir(rel)
}

func joinRel(rel, name string) string {
	if rel == "." {
		return name
	}
	return rel + "/" + name
}

func displayDir(rel string) string {
	if rel == "." {
		return "the routes folder"
	}
	return rel + "/"
}
