// Package events is POST /api/events: analytics events recorded as the
// caller, deferred by default (the database service's three write modes
// side by side, for the load benchmark too).
package events

import (
	"net/http"

	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/plugins/hapta"
)

func Register(se *core.ServeEvent) {
	hapta.Handle(se, "POST /api/events", handle,
		hapta.MaxBodySize(1<<20),
		hapta.Summary("Record events: deferred (default), as one unit of work, or one by one"),
		hapta.Tags("events"))
}

func handle(ctx *hapta.Context, in Input) error {
	db := ctx.DB()
	switch in.Mode {
	case modeUnit:
		unit := db.Begin()
		for _, e := range in.Events {
			if _, err := unit.Create("events", fields(e)); err != nil {
				return err
			}
		}
		if _, err := unit.SaveChanges(); err != nil {
			return err
		}
		return ctx.JSON(http.StatusCreated, map[string]int{"recorded": len(in.Events)})
	case modeDirect:
		for _, e := range in.Events {
			if _, err := db.Create("events", fields(e)); err != nil {
				return err
			}
		}
		return ctx.JSON(http.StatusCreated, map[string]int{"recorded": len(in.Events)})
	}
	for _, e := range in.Events {
		if err := db.Defer(hapta.WriteOp{Op: "create", Collection: "events", Data: fields(e)}); err != nil {
			return err
		}
	}
	// accepted: safe in the journal, applied soon after
	return ctx.JSON(http.StatusAccepted, map[string]int{"accepted": len(in.Events)})
}

func fields(e Event) map[string]any {
	return map[string]any{"name": e.Name, "payload": e.Payload}
}
