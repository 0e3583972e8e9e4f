package hapta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"sync"
	"time"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/security"

	"github.com/postr-inc/hapta/plugins/hapta/internal/inproc"
)

// A Unit is a unit of work: its Create, Update and Delete queue, and
// SaveChanges applies the whole queue in one SQLite transaction, all or
// nothing. Each op runs through PocketBase's record API as the unit's
// caller, as it would over HTTP (API rules, field validation, record hooks,
// pb_hooks included), against the state the earlier ops produced. Nobody
// else sees the queued writes before the commit; Get and List through the
// unit see them.
//
// A Unit belongs to whoever made it (Database.Begin, or a request's
// ctx.DB() in batch mode) and is safe for concurrent use. After
// SaveChanges, successful or not, and after Discard, it is empty and can
// be used again.
type Unit struct {
	db *Database

	mu  sync.Mutex
	ops []unitOp
}

// UnitLimits bound a unit of work. The zero value means the defaults.
type UnitLimits struct {
	// MaxOps is the most ops a unit queues (default 10,000).
	MaxOps int
	// Timeout bounds SaveChanges: a transaction still running after it is
	// rolled back (default 30s). SQLite has one writer: a long transaction
	// makes every other write wait.
	Timeout time.Duration
}

const (
	defaultUnitMaxOps  = 10_000
	defaultUnitTimeout = 30 * time.Second
)

func (l UnitLimits) withDefaults() UnitLimits {
	if l.MaxOps <= 0 {
		l.MaxOps = defaultUnitMaxOps
	}
	if l.Timeout <= 0 {
		l.Timeout = defaultUnitTimeout
	}
	return l
}

// unitOp is a queued write.
type unitOp struct {
	kind       string // "create", "update" or "delete"
	collection string
	id         string
	request    recordRequest
}

// Begin starts a unit of work acting as this handle's caller. PocketBase's
// rate limits count its ops one by one against the caller, as they count
// the requests of PocketBase's own /api/batch.
func (d *Database) Begin() *Unit {
	handle := *d
	handle.unit = nil
	return &Unit{db: &handle}
}

// SetBatch turns batch mode on or off (the seed's DB.setBatch(true)): on,
// Create, Update and Delete queue in the handle's unit until SaveChanges,
// and Get and List see them. Turning it off with queued writes is an error:
// save or discard them first.
func (d *Database) SetBatch(on bool) error {
	switch {
	case on && d.unit == nil:
		d.unit = d.Begin()
	case !on && d.unit != nil:
		if n := d.unit.Len(); n > 0 {
			return fmt.Errorf("hapta: %d queued writes: call SaveChanges or Discard before leaving batch mode", n)
		}
		d.unit = nil
	}
	return nil
}

// SaveChanges applies the writes queued in batch mode (see Unit.SaveChanges).
func (d *Database) SaveChanges() ([]map[string]any, error) {
	if d.unit == nil {
		return nil, errors.New("hapta: SaveChanges outside batch mode: call SetBatch(true) first")
	}
	return d.unit.SaveChanges()
}

// Discard drops the writes queued in batch mode and returns how many.
func (d *Database) Discard() int {
	if d.unit == nil {
		return 0
	}
	return d.unit.Discard()
}

// Len is the number of queued ops.
func (u *Unit) Len() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.ops)
}

// Discard drops the queued ops and returns how many there were.
func (u *Unit) Discard() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := len(u.ops)
	u.ops = nil
	return n
}

// Create queues a create and returns the record as queued: data with the
// record's final id (data's "id", or a new one in the collection's id
// format), so that later ops of the unit can relate to it.
func (u *Unit) Create(collection string, data map[string]any) (map[string]any, error) {
	c, err := u.collection(collection)
	if err != nil {
		return nil, err
	}
	record := maps.Clone(data)
	if record == nil {
		record = map[string]any{}
	}
	if c.IsView() {
		return nil, apis.NewBadRequestError("Unsupported collection type.", nil) // PocketBase's answer
	}
	id, _ := record[core.FieldNameId].(string)
	if id == "" {
		if id, err = newRecordID(c); err != nil {
			return nil, err
		}
		if id != "" {
			record[core.FieldNameId] = id
		}
	}
	if err := u.queue(unitOp{kind: "create", collection: collection, id: id, request: createRequest(collection, maps.Clone(record))}); err != nil {
		return nil, err
	}
	record["collectionId"], record["collectionName"] = c.Id, c.Name
	return record, nil
}

// Update queues an update of the fields in data and returns data with the
// record's id.
func (u *Unit) Update(collection, id string, data map[string]any) (map[string]any, error) {
	if _, err := u.collection(collection); err != nil {
		return nil, err
	}
	if err := u.queue(unitOp{kind: "update", collection: collection, id: id, request: updateRequest(collection, id, maps.Clone(data))}); err != nil {
		return nil, err
	}
	record := maps.Clone(data)
	if record == nil {
		record = map[string]any{}
	}
	record[core.FieldNameId] = id
	return record, nil
}

// Delete queues a delete.
func (u *Unit) Delete(collection, id string) error {
	if _, err := u.collection(collection); err != nil {
		return err
	}
	return u.queue(unitOp{kind: "delete", collection: collection, id: id, request: deleteRequest(collection, id)})
}

// Get reads a record as the unit's caller, with the unit's queued writes.
func (u *Unit) Get(collection, id string, options ReadOptions) (map[string]any, error) {
	return u.handle().Get(collection, id, options)
}

// List lists records as the unit's caller, with the unit's queued writes.
func (u *Unit) List(collection string, options ListOptions) (*ListResult, error) {
	return u.handle().List(collection, options)
}

// handle is the unit's caller in batch mode with this unit.
func (u *Unit) handle() *Database {
	handle := *u.db
	handle.unit = u
	return &handle
}

// SaveChanges applies the queued ops in one transaction and returns each
// op's record (nil for a delete), in order. On failure nothing is applied
// and the error is a *UnitError naming the op. Either way the unit is
// empty afterwards: a failed unit is built again to retry, which is safe,
// as none of it was applied. The record cache and PocketBase's realtime
// see the committed writes before SaveChanges returns.
func (u *Unit) SaveChanges() ([]map[string]any, error) {
	u.mu.Lock()
	ops := u.ops
	u.ops = nil
	u.mu.Unlock()
	if len(ops) == 0 {
		return []map[string]any{}, nil
	}
	if u.db.internal == nil {
		return nil, ErrOutsidePocketBase
	}
	var responses []*inproc.ResponseBuffer
	committed, err := runInTransaction(u.db.internal.App(), func(txApp core.App) error {
		var err error
		responses, err = u.apply(txApp, ops)
		return err
	})
	if !committed {
		return nil, err
	}
	if err != nil { // an after-commit hook failed: the writes stand
		u.db.internal.App().Logger().Error("hapta: a hook failed after a unit of work was committed", "error", err)
	}
	// PocketBase wrote the answers of the writes on commit
	results := make([]map[string]any, len(ops))
	for i, op := range ops {
		if op.kind == "delete" {
			continue
		}
		if err := json.Unmarshal(responses[i].Body, &results[i]); err != nil {
			return nil, fmt.Errorf("hapta: the unit of work was committed, but op %d's answer cannot be read: %w", i, err)
		}
	}
	return results, nil
}

// runInTransaction is app.RunInTransaction telling whether the transaction
// committed: PocketBase joins the errors of after-commit hooks to its
// answer, and a committed write must not be retried or reported undone.
func runInTransaction(app core.App, fn func(txApp core.App) error) (committed bool, err error) {
	err = app.RunInTransaction(func(txApp core.App) error {
		txApp.TxInfo().OnComplete(func(txErr error) error {
			committed = txErr == nil
			return nil
		})
		return fn(txApp)
	})
	return committed, err
}

// errDryRun rolls back the transaction of a read through a unit.
var errDryRun = errors.New("hapta: the unit's writes were applied for a read")

// read runs a read with the queued ops applied in a transaction that is
// then rolled back: the record hooks of the ops run for it, their
// after-success hooks (realtime, the cache) only for the commit.
func (u *Unit) read(r recordRequest, into any) error {
	u.mu.Lock()
	ops := u.ops
	u.mu.Unlock()
	if len(ops) == 0 {
		return u.db.do(context.Background(), r, into)
	}
	if u.db.internal == nil {
		return ErrOutsidePocketBase
	}
	err := u.db.internal.App().RunInTransaction(func(txApp core.App) error {
		if _, err := u.apply(txApp, ops); err != nil {
			return err
		}
		if err := u.db.do(inproc.WithDryRunApp(context.Background(), txApp), r, into); err != nil {
			return err
		}
		return errDryRun
	})
	if errors.Is(err, errDryRun) {
		return nil
	}
	return err
}

// apply runs ops on txApp, in order, stopping at the first failure. The
// answers of the successes are written when the transaction commits.
func (u *Unit) apply(txApp core.App, ops []unitOp) ([]*inproc.ResponseBuffer, error) {
	ctx := inproc.WithApp(context.Background(), txApp)
	deadline := time.Now().Add(u.db.limits.withDefaults().Timeout)
	responses := make([]*inproc.ResponseBuffer, len(ops))
	for i, op := range ops {
		failed := func(err error) error {
			return &UnitError{Index: i, Op: op.kind, Collection: op.collection, ID: op.id, Err: err}
		}
		if time.Now().After(deadline) {
			return nil, failed(apis.NewApiError(http.StatusServiceUnavailable, "The unit of work ran past its time limit; nothing was applied.", nil))
		}
		response, err := u.db.writeInTransaction(ctx, op.request)
		if err != nil {
			return nil, failed(err)
		}
		responses[i] = response
	}
	return responses, nil
}

func (u *Unit) queue(op unitOp) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if max := u.db.limits.withDefaults().MaxOps; len(u.ops) >= max {
		return apis.NewBadRequestError(fmt.Sprintf("The unit of work is full: at most %d ops.", max), nil)
	}
	u.ops = append(u.ops, op)
	return nil
}

func (u *Unit) collection(name string) (*core.Collection, error) {
	if u.db.internal == nil {
		return nil, ErrOutsidePocketBase
	}
	c, err := u.db.internal.App().FindCachedCollectionByNameOrId(name)
	if err != nil {
		return nil, apis.NewNotFoundError(fmt.Sprintf("Missing collection %q.", name), nil)
	}
	return c, nil
}

// newRecordID is a new id in the collection's id format, as PocketBase
// would generate it on save; "" when the collection has no pattern (the
// record gets its id from PocketBase on commit, or the op is refused).
func newRecordID(c *core.Collection) (string, error) {
	field, ok := c.Fields.GetByName(core.FieldNameId).(*core.TextField)
	if !ok || field.AutogeneratePattern == "" {
		return "", nil
	}
	return security.RandomStringByRegex(field.AutogeneratePattern)
}
