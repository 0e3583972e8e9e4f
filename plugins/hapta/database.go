package hapta

import (
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
}

// As reads and writes as the principal: the collections' API rules apply
// (anonymous when it is not authenticated; superusers bypass the rules).
// PocketBase's rate limits, when enabled, count the calls against the local
// address; ctx.DB() counts them against the request's client instead.
func (d *Database) As(principal Principal) *Database {
	return &Database{internal: d.internal, auth: principal.Record}
}

// AsSystem reads and writes with no API rules, as a superuser does.
func (d *Database) AsSystem() *Database {
	if d.internal == nil {
		return &Database{}
	}
	superusers, err := d.internal.App().FindCachedCollectionByNameOrId(core.CollectionNameSuperusers)
	if err != nil {
		return &Database{internal: d.internal} // cannot happen once PocketBase has bootstrapped
	}
	return &Database{internal: d.internal, auth: core.NewRecord(superusers)}
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
// view rule hides it.
func (d *Database) Get(collection, id string, options ReadOptions) (map[string]any, error) {
	query := url.Values{}
	setNonEmpty(query, "expand", options.Expand)
	setNonEmpty(query, "fields", options.Fields)
	var record map[string]any
	err := d.do(http.MethodGet, recordsPath(collection, id, query), nil, http.StatusOK, &record)
	return record, err
}

// List returns a page of the records the list rule lets the caller see.
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
	err := d.do(http.MethodGet, recordsPath(collection, "", query), nil, http.StatusOK, &result)
	return &result, err
}

// Create creates a record from data (fields by name).
func (d *Database) Create(collection string, data map[string]any) (map[string]any, error) {
	var record map[string]any
	err := d.do(http.MethodPost, recordsPath(collection, "", nil), data, http.StatusOK, &record)
	return record, err
}

// Update changes the fields in data of a record.
func (d *Database) Update(collection, id string, data map[string]any) (map[string]any, error) {
	var record map[string]any
	err := d.do(http.MethodPatch, recordsPath(collection, id, nil), data, http.StatusOK, &record)
	return record, err
}

// Delete deletes a record.
func (d *Database) Delete(collection, id string) error {
	return d.do(http.MethodDelete, recordsPath(collection, id, nil), nil, http.StatusNoContent, nil)
}

func (d *Database) do(method, path string, body any, success int, into any) error {
	if d.internal == nil {
		return ErrOutsidePocketBase
	}
	status, answer, err := d.internal.Call(d.caller.RemoteAddr, d.caller.Header, d.auth, method, path, body)
	if err != nil {
		return err
	}
	if status != success {
		return inproc.DecodeAPIError(status, answer)
	}
	if into == nil {
		return nil
	}
	return json.Unmarshal(answer, into)
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
