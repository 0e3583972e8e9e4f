package hapta

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/plugins/hapta/internal/inproc"
)

// Database reads and writes records as one caller, through PocketBase's
// own record API in process: API rules, expand, fields, filter and sort
// behave exactly as on the REST API, the record cache serves reads of the
// configured collections, and the records returned are fresh maps the
// caller owns.
//
// ctx.DB() is the database as the request's principal; ctx.Services.DB
// (and ServicesOf(app).DB) as an anonymous caller; As and AsSystem give the
// others. The zero Database, as outside PocketBase (NewHTTPHandler),
// answers every call with ErrOutsidePocketBase.
type Database struct {
	internal *inproc.Router
	auth     *core.Record
	caller   Caller
	limits   UnitLimits
	unit     *Unit           // batch mode: writes queue here (SetBatch)
	deferred *deferredWriter // Defer's journal and writer
}

// As reads and writes as the principal: the collections' API rules apply
// (anonymous when it is not authenticated; superusers bypass the rules).
// PocketBase's rate limits, when enabled, count the calls against the local
// address; ctx.DB() counts them against the request's client instead.
func (d *Database) As(principal Principal) *Database {
	return d.actingAs(principal.Record)
}

// actingAs is a new handle of the same database acting as auth, with no
// client and not in batch mode.
func (d *Database) actingAs(auth *core.Record) *Database {
	return &Database{internal: d.internal, auth: auth, limits: d.limits, deferred: d.deferred}
}

// AsSystem reads and writes with no API rules, as a superuser does.
func (d *Database) AsSystem() *Database {
	if d.internal == nil {
		return &Database{}
	}
	superusers, err := d.internal.App().FindCachedCollectionByNameOrId(core.CollectionNameSuperusers)
	if err != nil {
		return d.actingAs(nil) // cannot happen once PocketBase has bootstrapped
	}
	return d.actingAs(core.NewRecord(superusers))
}

// ReadOptions are PocketBase's expand and fields parameters.
type ReadOptions struct {
	Expand string
	Fields string
}

// ListOptions are PocketBase's list parameters.
type ListOptions struct {
	Page      int
	PerPage   int
	Filter    string // PocketBase's filter syntax
	Sort      string
	Expand    string
	Fields    string
	SkipTotal bool
}

// ListResult is one page of records.
type ListResult struct {
	Page       int              `json:"page"`
	PerPage    int              `json:"perPage"`
	TotalItems int              `json:"totalItems"`
	TotalPages int              `json:"totalPages"`
	Items      []map[string]any `json:"items"`
}

// Get returns one record, or a 404 ApiError when it does not exist or the
// view rule hides it. In batch mode it sees the unit's queued writes.
func (d *Database) Get(collection, id string, options ReadOptions) (map[string]any, error) {
	query := url.Values{}
	setNonEmpty(query, "expand", options.Expand)
	setNonEmpty(query, "fields", options.Fields)
	var record map[string]any
	err := d.read(recordRequest{method: http.MethodGet, path: recordsPath(collection, id, query), success: http.StatusOK}, &record)
	return record, err
}

// List returns a page of the records the list rule lets the caller see.
// In batch mode it sees the unit's queued writes.
func (d *Database) List(collection string, options ListOptions) (*ListResult, error) {
	query := url.Values{}
	if options.Page > 0 {
		query.Set("page", strconv.Itoa(options.Page))
	}
	if options.PerPage > 0 {
		query.Set("perPage", strconv.Itoa(options.PerPage))
	}
	setNonEmpty(query, "filter", options.Filter)
	setNonEmpty(query, "sort", options.Sort)
	setNonEmpty(query, "expand", options.Expand)
	setNonEmpty(query, "fields", options.Fields)
	if options.SkipTotal {
		query.Set("skipTotal", "true")
	}
	var result ListResult
	err := d.read(recordRequest{method: http.MethodGet, path: recordsPath(collection, "", query), success: http.StatusOK}, &result)
	return &result, err
}

// Create creates a record from data (fields by name). In batch mode it
// queues the create and returns the record as queued, with its final id.
func (d *Database) Create(collection string, data map[string]any) (map[string]any, error) {
	if d.unit != nil {
		return d.unit.Create(collection, data)
	}
	var record map[string]any
	err := d.do(context.Background(), createRequest(collection, data), &record)
	return record, err
}

// Update changes the fields in data of a record. In batch mode it queues
// the update and returns data with the record's id.
func (d *Database) Update(collection, id string, data map[string]any) (map[string]any, error) {
	if d.unit != nil {
		return d.unit.Update(collection, id, data)
	}
	var record map[string]any
	err := d.do(context.Background(), updateRequest(collection, id, data), &record)
	return record, err
}

// Delete deletes a record. In batch mode it queues the delete.
func (d *Database) Delete(collection, id string) error {
	if d.unit != nil {
		return d.unit.Delete(collection, id)
	}
	return d.do(context.Background(), deleteRequest(collection, id), nil)
}

// recordRequest is one call of PocketBase's record API.
type recordRequest struct {
	method, path string
	body         map[string]any
	success      int // the status of a success
}

func createRequest(collection string, data map[string]any) recordRequest {
	return recordRequest{method: http.MethodPost, path: recordsPath(collection, "", nil), body: data, success: http.StatusOK}
}

func updateRequest(collection, id string, data map[string]any) recordRequest {
	return recordRequest{method: http.MethodPatch, path: recordsPath(collection, id, nil), body: data, success: http.StatusOK}
}

func deleteRequest(collection, id string) recordRequest {
	return recordRequest{method: http.MethodDelete, path: recordsPath(collection, id, nil), success: http.StatusNoContent}
}

// read runs a read, through the unit in batch mode.
func (d *Database) read(r recordRequest, into any) error {
	if d.unit != nil {
		return d.unit.read(r, into)
	}
	return d.do(context.Background(), r, into)
}

// do runs r on the internal router as the handle's caller; ctx may carry
// inproc.WithApp (a transaction's app).
func (d *Database) do(ctx context.Context, r recordRequest, into any) error {
	response, err := d.send(ctx, r)
	if err != nil {
		return err
	}
	if response.Status != r.success {
		return inproc.DecodeAPIError(response.Status, response.Body)
	}
	if into == nil {
		return nil
	}
	return json.Unmarshal(response.Body, into)
}

// writeInTransaction runs the write r inside the transaction of ctx
// (inproc.WithApp): PocketBase writes a success's answer into the returned
// buffer when the transaction commits, a failure's at once.
func (d *Database) writeInTransaction(ctx context.Context, r recordRequest) (*inproc.ResponseBuffer, error) {
	response, err := d.send(ctx, r)
	if err != nil {
		return nil, err
	}
	if response.Written && response.Status != r.success {
		return nil, inproc.DecodeAPIError(response.Status, response.Body)
	}
	return response, nil
}

// send runs r and returns PocketBase's answer as it stands: a write inside
// a transaction is answered when the transaction commits.
func (d *Database) send(ctx context.Context, r recordRequest) (*inproc.ResponseBuffer, error) {
	if d.internal == nil {
		return nil, ErrOutsidePocketBase
	}
	var body any
	if r.body != nil {
		body = r.body
	}
	return d.internal.Send(ctx, d.caller.RemoteAddr, d.caller.Header, d.auth, r.method, r.path, body)
}

func recordsPath(collection, id string, query url.Values) string {
	path := "/api/collections/" + url.PathEscape(collection) + "/records"
	if id != "" {
		path += "/" + url.PathEscape(id)
	}
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	return path
}

func setNonEmpty(query url.Values, name, value string) {
	if value != "" {
		query.Set(name, value)
	}
}
