package jsroutes

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dop251/goja"
	"github.com/dop251/goja_nodejs/require"
)

// Methods are the HTTP methods a route module may export.
var Methods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions}

// Generation is one version of a routes folder, ready to run: its table,
// its compiled modules and a pool of JavaScript VMs. A reload makes a new
// generation; requests that started on the old one finish on it.
type Generation struct {
	Table   *Table
	methods map[string][]string     // route dir → the methods its module exports
	schemas map[string]RouteSchemas // route dir → its input schemas
	timeout time.Duration
	newVM   func() (*vm, error)
	pool    chan *vm
}

// vm is one goja runtime with every route module of the generation loaded.
type vm struct {
	runtime     *goja.Runtime
	require     *require.RequireModule
	exports     map[string]*goja.Object  // route dir → module.exports
	middlewares map[string]goja.Callable // _middleware.js file → its function
}

// Load compiles and loads every route of table in a first VM, so that a
// broken file is reported (with its path, line and column) before anything
// is served; size VMs at most run at once; a call longer than timeout is
// interrupted.
func Load(table *Table, size int, timeout time.Duration) (*Generation, error) {
	g := &Generation{Table: table, methods: map[string][]string{}, schemas: map[string]RouteSchemas{}, timeout: timeout, pool: make(chan *vm, size)}
	// one registry per generation: it keeps the compiled sources, so that
	// every VM of the generation shares them and a reload compiles afresh
	registry := require.NewRegistry(require.WithLoader(g.sourceLoader))
	g.newVM = func() (*vm, error) {
		runtime := goja.New()
		runtime.SetFieldNameMapper(goja.UncapFieldNameMapper())
		loader := registry.Enable(runtime)
		v := &vm{runtime: runtime, require: loader, exports: map[string]*goja.Object{}, middlewares: map[string]goja.Callable{}}
		for _, route := range table.Routes {
			for _, file := range route.Middlewares {
				if _, loaded := v.middlewares[file]; loaded {
					continue
				}
				module, err := loader.Require(filepath.Join(table.Root, filepath.FromSlash(file)))
				if err != nil {
					return nil, describe(file, err)
				}
				middleware, ok := goja.AssertFunction(module)
				if !ok {
					return nil, fmt.Errorf("%s: module.exports must be a function (ctx, db, next)", file)
				}
				v.middlewares[file] = middleware
			}
			module, err := loader.Require(filepath.Join(table.Root, filepath.FromSlash(route.Handler)))
			if err != nil {
				return nil, describe(route.Handler, err)
			}
			exports, ok := module.(*goja.Object)
			if !ok {
				return nil, fmt.Errorf("%s: module.exports is not an object of methods", route.Handler)
			}
			v.exports[route.Dir] = exports
		}
		return v, nil
	}
	first, err := g.newVM()
	if err != nil {
		return nil, err
	}
	for _, route := range table.Routes {
		if route.Schema == "" {
			continue
		}
		document, err := g.schemaDocument(first, route.Schema)
		if err != nil {
			return nil, err
		}
		if g.schemas[route.Dir], err = compileRouteSchemas(route.Schema, document); err != nil {
			return nil, err
		}
	}
	for _, route := range table.Routes {
		exports := first.exports[route.Dir]
		for _, method := range Methods {
			if _, ok := goja.AssertFunction(exports.Get(method)); ok {
				g.methods[route.Dir] = append(g.methods[route.Dir], method)
			}
		}
	}
	g.pool <- first
	for range size - 1 {
		g.pool <- nil // made on first use
	}
	return g, nil
}

// sourceLoader reads only files inside the routes folder: a route cannot
// require its way out of it.
func (g *Generation) sourceLoader(file string) ([]byte, error) {
	root, err := filepath.Abs(g.Table.Root)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	if abs != root && !strings.HasPrefix(abs, root+string(filepath.Separator)) {
		return nil, require.ModuleFileDoesNotExistError
	}
	source, err := os.ReadFile(abs)
	if errors.Is(err, os.ErrNotExist) {
		return nil, require.ModuleFileDoesNotExistError
	}
	return source, err
}

// schemaDocument reads a route's schema file: schema.json as it is,
// schema.js as its module.exports.
func (g *Generation) schemaDocument(first *vm, file string) (any, error) {
	full := filepath.Join(g.Table.Root, filepath.FromSlash(file))
	if strings.HasSuffix(file, ".json") {
		return readSchemaJSON(full)
	}
	module, err := first.require.Require(full)
	if err != nil {
		return nil, describe(file, err)
	}
	return jsonValue(module.Export()), nil
}

// SchemasOf are the route's input schemas for method, nil without them,
// and whether they check the body.
func (g *Generation) SchemasOf(route *Route, method string) (*Schemas, bool) {
	return g.schemas[route.Dir].For(method)
}

// MethodsOf is what the route's module exports, in Methods' order.
func (g *Generation) MethodsOf(route *Route) []string { return g.methods[route.Dir] }

// ErrTimeout is the error of a call interrupted after the timeout.
var ErrTimeout = errors.New("jsroutes: the handler ran out of time")

// Call runs the route's middlewares, outermost first, and its method
// handler, with the arguments made by args in the VM, on a VM of the pool
// (waiting for one while all are busy). Each middleware gets the arguments
// and next, which runs the rest of the chain and returns its result; a
// middleware that does not call next answers alone. The whole chain is
// interrupted after the generation's timeout.
func (g *Generation) Call(ctx context.Context, route *Route, method string, args func(runtime *goja.Runtime) (arguments []goja.Value, release func())) (goja.Value, error) {
	var v *vm
	select {
	case v = <-g.pool:
	case <-ctx.Done(): // the client left, or gave up, while every VM was busy
		return nil, ErrBusy
	}
	var err error
	if v == nil {
		if v, err = g.newVM(); err != nil {
			g.pool <- nil
			return nil, err
		}
	}
	defer func() { g.pool <- v }()
	handler, ok := goja.AssertFunction(v.exports[route.Dir].Get(method))
	if !ok {
		return nil, fmt.Errorf("jsroutes: %s exports no %s", route.Handler, method)
	}
	// the timer may fire just as the call ends: under one lock, it either
	// interrupts this call or nothing, never the VM's next call
	var interruptMu sync.Mutex
	finished := false
	timer := time.AfterFunc(g.timeout, func() {
		interruptMu.Lock()
		defer interruptMu.Unlock()
		if !finished {
			v.runtime.Interrupt(ErrTimeout)
		}
	})
	arguments, release := args(v.runtime)
	defer func() {
		release() // what the call was given stops working before the VM serves another
		interruptMu.Lock()
		finished = true
		interruptMu.Unlock()
		timer.Stop()
		v.runtime.ClearInterrupt()
	}()
	var run func(i int) (goja.Value, error)
	run = func(i int) (goja.Value, error) {
		if i == len(route.Middlewares) {
			return handler(goja.Undefined(), arguments...)
		}
		next := v.runtime.ToValue(func(goja.FunctionCall) goja.Value {
			result, err := run(i + 1)
			if err != nil {
				panic(err) // rethrown in the calling middleware, as a JavaScript exception
			}
			return result
		})
		return v.middlewares[route.Middlewares[i]](goja.Undefined(), append(slices.Clone(arguments), next)...)
	}
	result, err := run(0)
	var interrupted *goja.InterruptedError
	if errors.As(err, &interrupted) {
		return nil, ErrTimeout
	}
	if err != nil {
		return nil, err
	}
	return settled(result)
}

// ErrBusy is the error of a call that found no VM free before its request
// ended.
var ErrBusy = errors.New("jsroutes: every VM is busy")

// Rejected is the error of an async handler whose promise was rejected:
// Value is what it threw.
type Rejected struct{ Value goja.Value }

func (r *Rejected) Error() string {
	return "jsroutes: the handler's promise was rejected: " + r.Value.String()
}

// settled is the outcome of an async handler (its promise, settled by the
// jobs the call ran), or the value itself.
func settled(result goja.Value) (goja.Value, error) {
	if result == nil {
		return goja.Undefined(), nil
	}
	promise, ok := result.Export().(*goja.Promise)
	if !ok {
		return result, nil
	}
	switch promise.State() {
	case goja.PromiseStateFulfilled:
		return promise.Result(), nil
	case goja.PromiseStateRejected:
		return nil, &Rejected{Value: promise.Result()}
	}
	return nil, errors.New("jsroutes: the handler's promise is still pending: it waits for something that never comes")
}

// describe names the file, line and column of a load error.
func describe(file string, err error) error {
	var syntax *goja.CompilerSyntaxError
	if errors.As(err, &syntax) {
		return fmt.Errorf("%s: %s", file, syntax.Error())
	}
	var exception *goja.Exception
	if errors.As(err, &exception) {
		return fmt.Errorf("%s: %s", file, strings.TrimSpace(exception.String()))
	}
	return fmt.Errorf("%s: %w", file, err)
}

// Export is a JavaScript value as Go data, nil for undefined and null.
// Whether it is JSON is the encoder's to find out: the answer is encoded
// once.
func Export(value goja.Value) any {
	if value == nil || goja.IsUndefined(value) || goja.IsNull(value) {
		return nil
	}
	return value.Export()
}
