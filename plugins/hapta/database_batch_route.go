package hapta

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	validation "github.com/pocketbase/ozzo-validation/v4"
	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
)

// BatchPath runs a list of record writes as one unit of work, as the caller.
const BatchPath = "/api/hapta/batch"

// refPrefix marks a reference to an earlier create of the same batch:
// "@ref:0" is the id of the record op 0 creates.
const refPrefix = "@ref:"

// batchInput is POST /api/hapta/batch's body. An op's id, and a data value
// that is a string or a list of strings, may be "@ref:N".
type batchInput struct {
	Ops []WriteOp `json:"ops"`
}

func (in batchInput) Validate() error {
	if len(in.Ops) == 0 {
		return validation.Errors{"ops": validation.NewError("validation_required", "Send at least one op.")}
	}
	opErrors := validation.Errors{}
	for i, op := range in.Ops {
		if err := op.Validate(); err != nil {
			opErrors[strconv.Itoa(i)] = err
		}
	}
	if len(opErrors) > 0 {
		return validation.Errors{"ops": opErrors}
	}
	return nil
}

// batchResult is one op's outcome: the record written (none for a delete).
type batchResult struct {
	Op         string         `json:"op"`
	Collection string         `json:"collection"`
	ID         string         `json:"id"`
	Record     map[string]any `json:"record,omitempty"`
}

func serveBatch(se *core.ServeEvent) {
	Handle(se, "POST "+BatchPath, runBatch,
		Summary("Run record writes as one unit of work"),
		Description("Creates, updates and deletes run in order in one transaction, as the caller, through PocketBase's record API: "+
			"all are applied or none. An id or a data value \"@ref:N\" is the id of the record op N creates."),
		Tags("hapta"))
}

func runBatch(ctx *Context, in batchInput) error {
	unit := ctx.DB().Begin()
	ids := make([]string, len(in.Ops)) // the ids of the records the creates make
	for i, op := range in.Ops {
		failed := func(err error) error {
			return &UnitError{Index: i, Op: op.Op, Collection: op.Collection, ID: op.ID, Err: err}
		}
		id, err := resolveRef(op.ID, i, in.Ops, ids)
		if err != nil {
			return failed(err)
		}
		data, err := resolveRefs(op.Data, i, in.Ops, ids)
		if err != nil {
			return failed(err)
		}
		switch op.Op {
		case "create":
			if id != "" { // the client's own id for the record
				if data == nil {
					data = map[string]any{}
				}
				data["id"] = id
			}
			record, err := unit.Create(op.Collection, data)
			if err != nil {
				return failed(err)
			}
			ids[i], _ = record[core.FieldNameId].(string)
		case "update":
			_, err = unit.Update(op.Collection, id, data)
		case "delete":
			err = unit.Delete(op.Collection, id)
		}
		if err != nil {
			return failed(err)
		}
		if op.Op != "create" {
			ids[i] = id
		}
	}
	records, err := unit.SaveChanges()
	if err != nil {
		return err
	}
	results := make([]batchResult, len(in.Ops))
	for i, op := range in.Ops {
		results[i] = batchResult{Op: op.Op, Collection: op.Collection, ID: ids[i], Record: records[i]}
	}
	return ctx.JSON(http.StatusOK, map[string]any{"results": results})
}

// resolveRef turns "@ref:N" into the id op N created; N must be an earlier
// create of the batch.
func resolveRef(value string, index int, ops []WriteOp, ids []string) (string, error) {
	ref, ok := strings.CutPrefix(value, refPrefix)
	if !ok {
		return value, nil
	}
	n, err := strconv.Atoi(ref)
	if err != nil || n < 0 || n >= index || ops[n].Op != "create" {
		return "", apis.NewBadRequestError(fmt.Sprintf("%q must name an earlier create op of the batch.", value), nil)
	}
	return ids[n], nil
}

// resolveRefs resolves the references among data's values: strings and
// lists of strings (relation fields).
func resolveRefs(data map[string]any, index int, ops []WriteOp, ids []string) (map[string]any, error) {
	resolved := make(map[string]any, len(data))
	for key, value := range data {
		switch v := value.(type) {
		case string:
			id, err := resolveRef(v, index, ops, ids)
			if err != nil {
				return nil, err
			}
			resolved[key] = id
		case []any:
			list := make([]any, len(v))
			for j, item := range v {
				list[j] = item
				if s, ok := item.(string); ok {
					id, err := resolveRef(s, index, ops, ids)
					if err != nil {
						return nil, err
					}
					list[j] = id
				}
			}
			resolved[key] = list
		default:
			resolved[key] = value
		}
	}
	return resolved, nil
}
