package hapta

import (
	"errors"
	"sync/atomic"

	"github.com/dop251/goja"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/router"
	"github.com/spf13/cast"
)

// jsDatabase is a handler's db: the request's database handle (the
// principal's API rules, the record cache, one unit of work per request)
// with the seed's method names. A failed call throws its ApiError (with
// status, message and data, as jsvm's ApiError): uncaught, it becomes the
// same answer, in a JavaScript route and in a pb_hooks handler.
func jsDatabase(vm *goja.Runtime, db *Database, logError func(error), closed *atomic.Bool) *goja.Object {
	object := vm.NewObject()
	throw := func(err error) {
		var apiError *router.ApiError
		if !errors.As(err, &apiError) {
			logError(err) // not the text: it may hold what the client must not see
			apiError = router.NewInternalServerError("", nil)
		}
		panic(vm.ToValue(apiError))
	}
	options := func(value goja.Value) map[string]any {
		if goja.IsUndefined(value) || goja.IsNull(value) {
			return map[string]any{}
		}
		exported, _ := value.Export().(map[string]any)
		if exported == nil {
			return map[string]any{}
		}
		return exported
	}
	data := func(value goja.Value) map[string]any {
		exported, ok := value.Export().(map[string]any)
		if !ok {
			panic(vm.ToValue(router.NewBadRequestError("The record data must be an object.", nil)))
		}
		return exported
	}
	set := func(name string, f func(goja.FunctionCall) goja.Value) {
		_ = object.Set(name, func(call goja.FunctionCall) goja.Value {
			if closed != nil && closed.Load() {
				panic(vm.ToValue(errAfterRequest))
			}
			return f(call)
		})
	}

	set("get", func(call goja.FunctionCall) goja.Value {
		o := options(call.Argument(2))
		record, err := db.Get(call.Argument(0).String(), call.Argument(1).String(),
			ReadOptions{Expand: cast.ToString(o["expand"]), Fields: cast.ToString(o["fields"])})
		if err != nil {
			throw(err)
		}
		return vm.ToValue(record)
	})
	set("list", func(call goja.FunctionCall) goja.Value {
		o := options(call.Argument(1))
		result, err := db.List(call.Argument(0).String(), ListOptions{
			Page: cast.ToInt(o["page"]), PerPage: cast.ToInt(o["perPage"]), Filter: cast.ToString(o["filter"]), Sort: cast.ToString(o["sort"]),
			Expand: cast.ToString(o["expand"]), Fields: cast.ToString(o["fields"]), SkipTotal: cast.ToBool(o["skipTotal"]),
		})
		if err != nil {
			throw(err)
		}
		return vm.ToValue(map[string]any{"page": result.Page, "perPage": result.PerPage, "totalItems": result.TotalItems,
			"totalPages": result.TotalPages, "items": result.Items})
	})
	set("create", func(call goja.FunctionCall) goja.Value {
		record, err := db.Create(call.Argument(0).String(), data(call.Argument(1)))
		if err != nil {
			throw(err)
		}
		return vm.ToValue(record)
	})
	set("update", func(call goja.FunctionCall) goja.Value {
		record, err := db.Update(call.Argument(0).String(), call.Argument(1).String(), data(call.Argument(2)))
		if err != nil {
			throw(err)
		}
		return vm.ToValue(record)
	})
	set("delete", func(call goja.FunctionCall) goja.Value {
		if err := db.Delete(call.Argument(0).String(), call.Argument(1).String()); err != nil {
			throw(err)
		}
		return goja.Undefined()
	})
	set("setBatch", func(call goja.FunctionCall) goja.Value {
		if err := db.SetBatch(call.Argument(0).ToBoolean()); err != nil {
			throw(router.NewBadRequestError(err.Error(), nil))
		}
		return goja.Undefined()
	})
	set("saveChanges", func(goja.FunctionCall) goja.Value {
		records, err := db.SaveChanges()
		if err != nil {
			throw(err)
		}
		return vm.ToValue(records)
	})
	set("discard", func(goja.FunctionCall) goja.Value { return vm.ToValue(db.Discard()) })
	return object
}

// jsRequestDatabase is the request's database handle, as ctx.DB() is for
// a Go route.
func (p *plugin) jsRequestDatabase(e *core.RequestEvent) *Database {
	if p.database == nil {
		return &Database{}
	}
	db := p.database.actingAs(e.Auth)
	db.caller = Caller{RemoteAddr: e.Request.RemoteAddr, Header: e.Request.Header}
	return db
}
