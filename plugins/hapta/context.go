package hapta

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
)

// Context is what a hapta route handler sees of its request: who makes it,
// the request's metadata, the services, and the ways to answer.
type Context struct {
	Principal Principal
	Metadata  Metadata
	Services  Services

	// Event is PocketBase's request event, for anything else (its App is nil
	// when the handler runs outside PocketBase, see HTTPHandler).
	Event *core.RequestEvent

	dbOnce sync.Once
	db     atomic.Pointer[Database] // the request's handle, with its unit in batch mode
}

// Metadata describes the request.
type Metadata struct {
	RequestID string            // from a valid X-Request-ID header, or generated
	Timestamp time.Time         // when hapta received the request
	Method    string            //
	Path      string            // the URL path
	Params    map[string]string // the pattern's {name} values
	Query     url.Values        //
	Headers   http.Header       // the request's headers (Authorization included: never log them whole)
	JSON      json.RawMessage   // the JSON body as sent, nil for other bodies
	IP        string            // the client's IP, as PocketBase resolves it behind trusted proxies
	UserAgent string            //
}

// ErrOutsidePocketBase is the error of a service without a PocketBase app:
// the zero Database, Authenticator or Tokens, as a handler served by
// NewHTTPHandler, outside PocketBase, gets them.
var ErrOutsidePocketBase = errors.New("hapta: this service needs PocketBase, and the handler runs outside it (NewHTTPHandler)")

// Services are the application's services for handlers.
type Services struct {
	// Outside PocketBase (NewHTTPHandler) App is nil and the other
	// services are zero values whose calls answer ErrOutsidePocketBase.
	App    core.App
	Logger *slog.Logger // hapta's logger
	Tokens *Tokens      // hapta's short-lived tokens

	// Authenticate logs users in (password, OTP, OAuth2, MFA).
	Authenticate *Authenticator

	// DB reads and writes records, cached, as an anonymous caller (see
	// Context.DB for the request's principal).
	DB *Database
}

// DB is the database as the request's principal: the collections' API
// rules apply as on PocketBase's REST API (superusers bypass them), and
// PocketBase's rate limits count the calls against the request's client.
// It is one handle for the whole request, so that its batch mode
// (SetBatch) holds across calls; queued writes never saved are discarded
// when the request ends. Outside PocketBase (NewHTTPHandler) its calls
// answer ErrOutsidePocketBase.
func (c *Context) DB() *Database {
	c.dbOnce.Do(func() {
		db := &Database{}
		if c.Services.DB != nil {
			db = c.Services.DB.As(c.Principal)
			db.caller = CallerOf(c)
		}
		c.db.Store(db)
	})
	return c.db.Load()
}

// discardUnsaved drops the writes the request queued and never saved.
func (c *Context) discardUnsaved(logger *slog.Logger) {
	db := c.db.Load()
	if db == nil {
		return
	}
	if n := db.Discard(); n > 0 {
		logger.Debug("discarded the request's unit of work, never saved", "requestId", c.Metadata.RequestID, "ops", n)
	}
}

// ErrNoRequest is the answer methods' error on a Context without a
// request (built by hand, as in a unit test of a handler).
var ErrNoRequest = errors.New("hapta: the Context has no request to answer; hapta builds it for Handle and NewHTTPHandler")

// JSON answers with status and v encoded as JSON. A 200 answer to GET
// carries an ETag, and a client that has it gets 304 Not Modified.
func (c *Context) JSON(status int, v any) error {
	if c.Event == nil {
		return ErrNoRequest
	}
	body, err := stableJSON(c.Event, status, v)
	if err != nil {
		return err
	}
	return writeAnswer(c.Event, status, "application/json", body)
}

// HTML answers with status and an HTML document, revalidated as JSON's.
func (c *Context) HTML(status int, html string) error {
	if c.Event == nil {
		return ErrNoRequest
	}
	return writeAnswer(c.Event, status, "text/html; charset=utf-8", []byte(html))
}

// Text answers with status and plain text, revalidated as JSON's.
func (c *Context) Text(status int, text string) error {
	if c.Event == nil {
		return ErrNoRequest
	}
	return writeAnswer(c.Event, status, "text/plain; charset=utf-8", []byte(text))
}

// NoContent answers with status and no body.
func (c *Context) NoContent(status int) error {
	if c.Event == nil {
		return ErrNoRequest
	}
	return c.Event.NoContent(status)
}

// Error returns an error answer in PocketBase's ApiError shape; data may be
// validation.Errors for per-field errors. Return it from the handler.
func (c *Context) Error(status int, message string, data any) error {
	return apis.NewApiError(status, message, data)
}
