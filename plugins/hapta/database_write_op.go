package hapta

import (
	validation "github.com/pocketbase/ozzo-validation/v4"
)

// WriteOp is one record write: a create (Collection, Data, and an ID if
// the caller picks it), an update (Collection, ID, Data) or a delete
// (Collection, ID). POST /api/hapta/batch takes a list of them, and
// Database.Defer one.
type WriteOp struct {
	Op         string         `json:"op"` // "create", "update" or "delete"
	Collection string         `json:"collection"`
	ID         string         `json:"id,omitempty"`
	Data       map[string]any `json:"data,omitempty"`
}

// Validate checks the op's shape (PocketBase checks the rest when it runs).
func (op WriteOp) Validate() error {
	return validation.ValidateStruct(&op,
		validation.Field(&op.Op, validation.Required, validation.In("create", "update", "delete")),
		validation.Field(&op.Collection, validation.Required),
		validation.Field(&op.ID, validation.When(op.Op != "create", validation.Required)),
	)
}

// request is the op as a call of PocketBase's record API.
func (op WriteOp) request() recordRequest {
	switch op.Op {
	case "update":
		return updateRequest(op.Collection, op.ID, op.Data)
	case "delete":
		return deleteRequest(op.Collection, op.ID)
	}
	data := op.Data
	if op.ID != "" {
		data = make(map[string]any, len(op.Data)+1)
		for k, v := range op.Data {
			data[k] = v
		}
		data["id"] = op.ID
	}
	return createRequest(op.Collection, data)
}
