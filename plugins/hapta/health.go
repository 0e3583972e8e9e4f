package hapta

import (
	"encoding/json"
	"net/http"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"

	"github.com/postr-inc/hapta/plugins/hapta/internal/inproc"
)

// healthMiddleware adds key: value() to the data of PocketBase's GET (and
// HEAD) /api/health answer, which is otherwise PocketBase's own.
func healthMiddleware(id, key string, value func() any) *hook.Handler[*core.RequestEvent] {
	return &hook.Handler[*core.RequestEvent]{
		Id: id,
		Func: func(e *core.RequestEvent) error {
			if e.Request.URL.Path != "/api/health" || (e.Request.Method != http.MethodGet && e.Request.Method != http.MethodHead) {
				return e.Next()
			}
			buffer, err := inproc.Capture(e)
			if err != nil {
				return err
			}
			var answer map[string]any
			if json.Unmarshal(buffer.Body, &answer) != nil || answer == nil {
				for name, values := range buffer.Header() {
					e.Response.Header()[name] = values
				}
				e.Response.WriteHeader(buffer.Status)
				_, werr := e.Response.Write(buffer.Body)
				return werr
			}
			data, _ := answer["data"].(map[string]any)
			if data == nil {
				data = map[string]any{}
			}
			data[key] = value()
			answer["data"] = data
			return e.JSON(buffer.Status, answer)
		},
	}
}
