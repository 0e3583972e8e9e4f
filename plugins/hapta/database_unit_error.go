package hapta

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	validation "github.com/pocketbase/ozzo-validation/v4"
	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/tools/router"

	"github.com/postr-inc/hapta/plugins/hapta/internal/bind"
)

// UnitError is the failure of a unit of work: the op that failed (Index
// from 0, in the order queued), and PocketBase's error for it. Nothing of
// the unit was applied.
type UnitError struct {
	Index      int
	Op         string // "create", "update" or "delete"
	Collection string
	ID         string // the record's id (a create's optimistic id)
	Err        error  // PocketBase's answer: an *router.ApiError with its field errors
}

func (e *UnitError) Error() string {
	return fmt.Sprintf("hapta: unit of work: op %d (%s %s %s) failed, nothing was applied: %v", e.Index, e.Op, e.Collection, e.ID, e.Err)
}

func (e *UnitError) Unwrap() error { return e.Err }

// apiError is the answer over HTTP: 400, with the failing op under
// data.ops[index]: its op, collection, id, PocketBase's status, message and
// field errors.
func (e *UnitError) apiError() *router.ApiError {
	status, message, data := http.StatusInternalServerError, "", map[string]any{}
	var apiErr *router.ApiError
	var fieldErrors validation.Errors
	switch {
	case errors.As(e.Err, &apiErr):
		status, message, data = apiErr.Status, apiErr.Message, apiErr.Data
	case errors.As(e.Err, &fieldErrors):
		status, message, data = http.StatusBadRequest, bind.InvalidInput, apis.NewBadRequestError("", fieldErrors).Data
	}
	if status == http.StatusInternalServerError {
		return apis.NewInternalServerError("", e) // not the client's: logged, not shown
	}
	answer := apis.NewBadRequestError(fmt.Sprintf("Op %d of the unit of work failed (%s %s); nothing was applied.", e.Index, e.Op, e.Collection), nil)
	// set as is: NewApiError would take the op's fields for field errors
	answer.Data = map[string]any{
		"ops": map[string]any{strconv.Itoa(e.Index): map[string]any{
			"code":       "unit_op_failed",
			"message":    message,
			"op":         e.Op,
			"collection": e.Collection,
			"id":         e.ID,
			"status":     status,
			"data":       data,
		}},
	}
	return answer
}
