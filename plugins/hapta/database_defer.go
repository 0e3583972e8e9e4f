package hapta

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/router"

	"github.com/postr-inc/hapta/plugins/hapta/internal/inproc"
	"github.com/postr-inc/hapta/plugins/hapta/internal/journal"
)

// DeferLimits configure deferred writes (Database.Defer). The zero value
// means the defaults.
type DeferLimits struct {
	// GroupSize is the most ops applied in one transaction (default 500).
	GroupSize int
	// GroupDelay is how long the writer waits for a group to fill before
	// applying what it has (default 20ms).
	GroupDelay time.Duration
	// MaxPending bounds the journal: bytes of ops accepted and not yet
	// applied (default 64 MiB).
	MaxPending int64
	// FullWait is how long Defer waits for room in a full journal before it
	// answers ErrDeferFull (default 5s).
	FullWait time.Duration
	// DrainTimeout bounds a graceful stop's applying of the accepted ops
	// (default 30s): what is left stays in the journal for the next start.
	DrainTimeout time.Duration
}

func (l DeferLimits) withDefaults() DeferLimits {
	if l.GroupSize <= 0 {
		l.GroupSize = 500
	}
	if l.GroupDelay <= 0 {
		l.GroupDelay = 20 * time.Millisecond
	}
	if l.MaxPending <= 0 {
		l.MaxPending = 64 << 20
	}
	if l.FullWait <= 0 {
		l.FullWait = 5 * time.Second
	}
	if l.DrainTimeout <= 0 {
		l.DrainTimeout = 30 * time.Second
	}
	return l
}

var (
	// ErrDeferFull is Defer's error when the journal stays full for
	// DeferLimits.FullWait: the op was not accepted.
	ErrDeferFull = apis.NewApiError(http.StatusServiceUnavailable, "Deferred writes are full; try again later.", nil)
	// ErrDeferStopped is Defer's error before the server starts and once it
	// stops: the op was not accepted.
	ErrDeferStopped = apis.NewApiError(http.StatusServiceUnavailable, "Deferred writes are not running.", nil)
)

// DeferredFailures is the collection (superusers only) where a deferred op
// that PocketBase refused is kept, with its error: it is not retried.
const DeferredFailures = "hapta_deferred_failures"

// journalDir is the journal's folder in pb_data; markTable keeps, in the
// same database as the records, the last op applied.
const (
	journalDir       = "hapta_journal"
	markTable        = "_hapta_deferred"
	journalSegment   = 16 << 20
	retryInfraErrors = time.Second
)

// Defer accepts a write to apply soon, as this handle's caller, and returns
// as soon as the op is safe against a crash of the process: written to the
// journal in pb_data. A background writer applies accepted ops in order,
// in transactions of many, exactly once (after a restart too); an op that
// PocketBase refuses is recorded in DeferredFailures. For logs, analytics
// and counters: nothing acknowledged is lost, but the op is not applied
// yet when Defer returns, and its refusal is not the caller's to see.
func (d *Database) Defer(op WriteOp) error {
	if d == nil || d.internal == nil {
		return ErrOutsidePocketBase
	}
	if err := op.Validate(); err != nil {
		return err
	}
	if _, err := d.internal.App().FindCachedCollectionByNameOrId(op.Collection); err != nil {
		return apis.NewNotFoundError(fmt.Sprintf("Missing collection %q.", op.Collection), nil)
	}
	return d.deferred.accept(deferredOp{WriteOp: op, Auth: authOf(d.auth)})
}

// deferredOp is a journal record: the op and whom it acts as.
type deferredOp struct {
	WriteOp
	Auth authRef `json:"auth"`
}

// authRef names the auth record an op acts as; System is a superuser with
// no record (AsSystem); neither is anonymous.
type authRef struct {
	Collection string `json:"collection,omitempty"`
	ID         string `json:"id,omitempty"`
	System     bool   `json:"system,omitempty"`
}

func authOf(record *core.Record) authRef {
	switch {
	case record == nil:
		return authRef{}
	case record.Id == "" && record.Collection().Name == core.CollectionNameSuperusers:
		return authRef{System: true}
	}
	return authRef{Collection: record.Collection().Id, ID: record.Id}
}

// deferredWriter owns the journal and applies its ops in the background.
type deferredWriter struct {
	app     core.App
	router  *inproc.Router
	limits  DeferLimits
	logger  *slog.Logger
	journal *journal.Journal

	startMu sync.Mutex // one start at a time

	mu        sync.Mutex
	changed   *sync.Cond
	running   bool
	stopping  bool
	quit      chan struct{}       // closed when a stop gives up waiting: the applier leaves
	queued    map[uint64]queuedOp // accepted, not applied, by sequence number
	nextApply uint64
	pending   int64 // bytes accepted and not applied, reserved before the write
	done      chan struct{}
}

type queuedOp struct {
	seq  uint64
	op   deferredOp
	size int64
	skip bool // its journal write failed: never acknowledged
}

func newDeferredWriter(app core.App, router *inproc.Router, limits DeferLimits, logger *slog.Logger) *deferredWriter {
	w := &deferredWriter{app: app, router: router, limits: limits.withDefaults(), logger: logger, queued: map[uint64]queuedOp{}}
	w.changed = sync.NewCond(&w.mu)
	return w
}

// start opens the journal and applies what it holds past the mark, then
// applies new ops as they come, until stop.
func (w *deferredWriter) start() error {
	w.startMu.Lock()
	defer w.startMu.Unlock()
	w.mu.Lock()
	running := w.running
	w.mu.Unlock()
	if running {
		return nil
	}
	if err := ensureDeferredTables(w.app); err != nil {
		return err
	}
	mark, err := readMark(w.app)
	if err != nil {
		return err
	}
	j, records, err := journal.Open(filepath.Join(w.app.DataDir(), journalDir), mark, journalSegment)
	if err != nil {
		return err
	}
	queued := map[uint64]queuedOp{}
	var pending int64
	next := mark + 1
	for _, r := range records {
		var op deferredOp
		if err := json.Unmarshal(r.Payload, &op); err != nil {
			j.Close()
			return fmt.Errorf("hapta: deferred write %d in the journal cannot be read: %w", r.Seq, err)
		}
		for ; next < r.Seq; next++ { // numbers whose write failed: never acknowledged
			queued[next] = queuedOp{seq: next, skip: true}
		}
		queued[r.Seq] = queuedOp{seq: r.Seq, op: op, size: int64(len(r.Payload))}
		pending += int64(len(r.Payload))
		next = r.Seq + 1
	}
	if len(records) > 0 {
		w.logger.Info("replaying deferred writes from the journal", "ops", len(records))
	}
	w.mu.Lock()
	w.journal, w.queued, w.pending, w.nextApply = j, queued, pending, mark+1
	w.stopping, w.done, w.quit = false, make(chan struct{}), make(chan struct{})
	w.running = true
	w.mu.Unlock()
	go w.run()
	return nil
}

// accept reserves room, journals the op and queues it.
func (w *deferredWriter) accept(op deferredOp) error {
	if w == nil {
		return ErrDeferStopped
	}
	payload, err := json.Marshal(op)
	if err != nil {
		return err
	}
	size := int64(len(payload))
	if err := w.reserve(size); err != nil {
		return err
	}
	seq, err := w.journal.Append(payload)
	w.mu.Lock()
	defer w.mu.Unlock()
	defer w.changed.Broadcast()
	switch {
	case errors.Is(err, journal.ErrClosed):
		w.pending -= size
		return ErrDeferStopped
	case err != nil && seq == 0: // refused before taking a number
		w.pending -= size
		return err
	case err != nil: // the write failed: its number is passed over, nothing applied
		w.queued[seq] = queuedOp{seq: seq, size: size, skip: true}
		return err
	}
	w.queued[seq] = queuedOp{seq: seq, op: op, size: size}
	return nil
}

// reserve waits until size bytes fit under MaxPending, FullWait at most.
func (w *deferredWriter) reserve(size int64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	full := func() bool {
		return w.running && !w.stopping && w.pending > 0 && w.pending+size > w.limits.MaxPending
	}
	if full() { // only a full journal needs a deadline to wake the wait
		deadline := time.Now().Add(w.limits.FullWait)
		timer := time.AfterFunc(w.limits.FullWait, func() {
			w.mu.Lock()
			w.changed.Broadcast()
			w.mu.Unlock()
		})
		defer timer.Stop()
		for full() {
			if !time.Now().Before(deadline) {
				return ErrDeferFull
			}
			w.changed.Wait()
		}
	}
	if !w.running || w.stopping {
		return ErrDeferStopped
	}
	w.pending += size
	return nil
}

// run applies the queued ops in order, in groups, until stop drains them.
func (w *deferredWriter) run() {
	defer close(w.done)
	for {
		w.mu.Lock()
		for !w.ready() || w.abandoned() {
			if w.abandoned() || (w.stopping && w.inFlight() == 0) {
				w.mu.Unlock()
				return // nothing accepted is left to apply, or the stop gave up
			}
			w.changed.Wait()
		}
		w.letTheGroupFill()
		group := w.take()
		w.mu.Unlock()

		w.applyGroup(group)
		if w.abandoned() {
			return // what was not applied stays in the journal
		}

		w.mu.Lock()
		for _, q := range group {
			delete(w.queued, q.seq)
			w.pending -= q.size
		}
		w.nextApply = group[len(group)-1].seq + 1
		w.changed.Broadcast()
		w.mu.Unlock()
		if err := w.journal.Compact(group[len(group)-1].seq); err != nil {
			w.logger.Warn("deferred writes: the journal could not drop applied segments", "error", err)
		}
	}
}

// letTheGroupFill waits, GroupDelay at most, for a full group or a stop.
// Called with mu held.
func (w *deferredWriter) letTheGroupFill() {
	waited := false
	timer := time.AfterFunc(w.limits.GroupDelay, func() {
		w.mu.Lock()
		waited = true
		w.changed.Broadcast()
		w.mu.Unlock()
	})
	defer timer.Stop()
	for !waited && !w.stopping && w.readyCount() < w.limits.GroupSize {
		w.changed.Wait()
	}
}

// abandoned: a stop gave up waiting for the applier.
func (w *deferredWriter) abandoned() bool {
	select {
	case <-w.quit:
		return true
	default:
		return false
	}
}

// pause waits d, or less when a stop gives up.
func (w *deferredWriter) pause(d time.Duration) {
	select {
	case <-w.quit:
	case <-time.After(d):
	}
}

// ready: the next op in sequence is queued. Called with mu held.
func (w *deferredWriter) ready() bool {
	_, ok := w.queued[w.nextApply]
	return ok
}

// inFlight is the number of accepted ops not in the queue in order yet:
// reserved or being written. Called with mu held.
func (w *deferredWriter) inFlight() int64 {
	var queued int64
	for _, q := range w.queued {
		queued += q.size
	}
	return w.pending - queued
}

func (w *deferredWriter) readyCount() int {
	n := 0
	for seq := w.nextApply; n < w.limits.GroupSize; seq++ {
		if _, ok := w.queued[seq]; !ok {
			break
		}
		n++
	}
	return n
}

// take returns the ops in sequence from nextApply, GroupSize at most.
func (w *deferredWriter) take() []queuedOp {
	var group []queuedOp
	for seq := w.nextApply; len(group) < w.limits.GroupSize; seq++ {
		q, ok := w.queued[seq]
		if !ok {
			break
		}
		group = append(group, q)
	}
	return group
}

// applyGroup applies a group in one transaction with the mark. When an op
// fails, the ops before it are applied, it is retried alone, and refused
// again it is recorded in DeferredFailures; then the rest go on. Errors of
// the database itself are retried, never dropped.
func (w *deferredWriter) applyGroup(group []queuedOp) {
	for len(group) > 0 && !w.abandoned() {
		failedAt, err := w.commit(group)
		switch {
		case err == nil:
			return
		case failedAt < 0:
			w.logger.Error("deferred writes: a group could not be applied; retrying", "error", err)
			w.pause(retryInfraErrors)
		case failedAt > 0: // the ops before it first
			w.applyGroup(group[:failedAt])
			group = group[failedAt:]
		case !refused(err): // the first op failed for a while (a rate limit, the database)
			w.logger.Warn("deferred writes: an op could not be applied yet; retrying", "seq", group[0].seq, "error", err)
			w.pause(retryInfraErrors)
		default: // PocketBase refused the first op: alone, then recorded
			refusal := err
			if len(group) > 1 {
				alone, err := w.commit(group[:1])
				if err == nil {
					group = group[1:]
					continue
				}
				if alone < 0 || !refused(err) {
					w.pause(retryInfraErrors)
					continue
				}
				refusal = err
			}
			if err := w.recordFailure(group[0], refusal); err != nil {
				w.logger.Error("deferred writes: a refused op could not be recorded; retrying", "error", err)
				w.pause(retryInfraErrors)
				continue
			}
			w.logger.Warn("deferred writes: PocketBase refused an op; recorded in "+DeferredFailures, "seq", group[0].seq, "error", refusal)
			group = group[1:]
		}
	}
}

// commit applies the ops and moves the mark past them, in one transaction;
// failedAt is the op that failed (refused tells whether PocketBase refused
// it or it may pass later), -1 for an error of the transaction itself. A
// failing after-commit hook does not undo the commit: it is logged.
func (w *deferredWriter) commit(group []queuedOp) (failedAt int, err error) {
	failedAt = -1
	committed, err := runInTransaction(w.app, func(txApp core.App) error {
		ctx := inproc.WithApp(context.Background(), txApp)
		for i, q := range group {
			if q.skip {
				continue
			}
			if err := w.applyOp(ctx, txApp, q.op); err != nil {
				failedAt = i
				return err
			}
		}
		return writeMark(txApp, group[len(group)-1].seq)
	})
	if committed {
		if err != nil {
			w.logger.Error("deferred writes: a hook failed after a group was committed", "error", err)
		}
		return -1, nil
	}
	return failedAt, err
}

// refused tells PocketBase's refusal of an op (its rules, its validation,
// a missing record) from a failure to retry (a rate limit, a server error,
// the database).
func refused(err error) bool {
	var apiErr *router.ApiError
	if errors.As(err, &apiErr) {
		switch apiErr.Status {
		case http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound:
			return true
		}
	}
	return false
}

func (w *deferredWriter) applyOp(ctx context.Context, txApp core.App, op deferredOp) error {
	auth, err := op.Auth.record(txApp)
	if err != nil {
		return err
	}
	_, err = (&Database{internal: w.router, auth: auth}).writeInTransaction(ctx, op.request())
	return err
}

// record loads the auth record the op acts as, as it is now.
func (a authRef) record(app core.App) (*core.Record, error) {
	switch {
	case a.System:
		superusers, err := app.FindCachedCollectionByNameOrId(core.CollectionNameSuperusers)
		if err != nil {
			return nil, err
		}
		return core.NewRecord(superusers), nil
	case a.ID != "":
		record, err := app.FindRecordById(a.Collection, a.ID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, apis.NewForbiddenError("The op's auth record no longer exists.", nil)
		}
		return record, err
	}
	return nil, nil
}

// recordFailure keeps a refused op and its error, and moves the mark past
// it. An op too large to keep is kept without its data.
func (w *deferredWriter) recordFailure(q queuedOp, refusal error) error {
	message := refusal.Error()
	if len(message) > maxFailureText {
		message = message[:maxFailureText]
	}
	save := func(op any) error {
		return w.app.RunInTransaction(func(txApp core.App) error {
			failures, err := txApp.FindCollectionByNameOrId(DeferredFailures)
			if err != nil {
				return err
			}
			record := core.NewRecord(failures)
			record.Set("seq", q.seq)
			record.Set("op", op)
			record.Set("error", message)
			if err := txApp.Save(record); err != nil {
				return err
			}
			return writeMark(txApp, q.seq)
		})
	}
	if err := save(q.op); err == nil {
		return nil
	}
	return save(WriteOp{Op: q.op.Op, Collection: q.op.Collection, ID: q.op.ID})
}

// maxFailureText bounds the error kept with a refused op.
const maxFailureText = 10_000

// stop refuses new ops, applies the accepted ones (DrainTimeout at most:
// the rest stays in the journal for the next start) and closes the journal.
func (w *deferredWriter) stop() {
	w.mu.Lock()
	if !w.running || w.stopping {
		w.mu.Unlock()
		return
	}
	w.stopping = true
	w.changed.Broadcast()
	w.mu.Unlock()
	select {
	case <-w.done:
	case <-time.After(w.limits.DrainTimeout):
		w.logger.Error("deferred writes: the stop gave up applying; the rest is applied at the next start")
		w.mu.Lock()
		close(w.quit)
		w.changed.Broadcast()
		w.mu.Unlock()
		<-w.done
	}
	if err := w.journal.Close(); err != nil {
		w.logger.Warn("deferred writes: closing the journal", "error", err)
	}
	w.mu.Lock()
	w.running = false
	w.mu.Unlock()
}

// ensureDeferredTables creates the mark table and the failures collection.
func ensureDeferredTables(app core.App) error {
	_, err := app.DB().NewQuery("CREATE TABLE IF NOT EXISTS {{" + markTable + "}} (id INTEGER PRIMARY KEY CHECK (id = 1), applied INTEGER NOT NULL)").Execute()
	if err != nil {
		return err
	}
	if _, err := app.FindCollectionByNameOrId(DeferredFailures); err == nil {
		return nil
	}
	failures := core.NewBaseCollection(DeferredFailures) // no rules: superusers only
	failures.Fields.Add(
		&core.NumberField{Name: "seq", OnlyInt: true},
		&core.JSONField{Name: "op", MaxSize: 32 << 20},
		&core.TextField{Name: "error", Max: maxFailureText},
		&core.AutodateField{Name: "created", OnCreate: true},
	)
	return app.Save(failures)
}

func readMark(app core.App) (uint64, error) {
	var mark struct {
		Applied uint64 `db:"applied"`
	}
	err := app.DB().NewQuery("SELECT applied FROM {{" + markTable + "}} WHERE id = 1").One(&mark)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	return mark.Applied, nil
}

func writeMark(txApp core.App, seq uint64) error {
	_, err := txApp.DB().NewQuery("INSERT INTO {{" + markTable + "}} (id, applied) VALUES (1, {:seq}) ON CONFLICT(id) DO UPDATE SET applied = excluded.applied").
		Bind(dbx.Params{"seq": seq}).Execute()
	return err
}
