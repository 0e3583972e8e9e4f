package realtime

import (
	"time"

	"github.com/pocketbase/pocketbase/core"
)

// The write side: record events taken from PocketBase's model hooks, in
// the order of their commits.

// waits tells whether the writer of an event on record must wait for it:
// with an expanding subscription or enrich hooks bound, the event reads
// live data (expanded relations, whatever the hooks read), which the wait
// keeps as the write left it, as in PocketBase.
func (b *Broadcaster) interested(record *core.Record) (any, waits bool) {
	any, expands := b.interest(record.Collection())
	return any, any && (expands || b.app.OnRecordEnrich().Length() > 0)
}

func (b *Broadcaster) committed(action string) func(*core.ModelEvent) error {
	return func(e *core.ModelEvent) error {
		if err := e.Next(); err != nil {
			return err
		}
		record := recordOf(e.App, e.Model, b.subscribed)
		if record == nil {
			return nil
		}
		any, waits := b.interested(record)
		if !any {
			return nil
		}
		// no lock is held after a commit: waiting for a snapshot here only
		// slows writes to the broadcaster's pace; a write of the worker's
		// own (an enrich hook's) waits for nothing, or it would wait for
		// itself
		fromWorker := b.fromWorker()
		waits = waits && !fromWorker
		ev := &event{action: action, record: record.Fresh(), snap: b.pin(!fromWorker)}
		if waits {
			ev.processed = make(chan struct{})
		}
		b.push(item{event: ev})
		if waits {
			<-ev.processed
		}
		return nil
	}
}

// deleting takes a delete's snapshot before it runs; its messages are
// made where PocketBase makes its own (deleteReached) and sent at its
// commit (deleted), or dropped.
func (b *Broadcaster) deleting(e *core.ModelEvent) error {
	record := recordOf(e.App, e.Model, b.subscribed)
	if record == nil {
		return e.Next()
	}
	if any, _ := b.interested(record); !any {
		return e.Next()
	}
	ev := &event{action: "delete", record: record.Fresh(), snap: b.deleteSnapshot(e.App), prepare: true, since: time.Now()}
	// by the delete's own event, which PocketBase passes on to the delete's
	// later hooks: two deletes of one record at once keep an event each
	b.pendingMu.Lock()
	b.pending[e] = ev
	b.pendingMu.Unlock()
	ok := false
	defer func() {
		if !ok { // an error, or a panic that a router will recover
			if ev := b.takePending(e); ev != nil {
				b.cancel(ev)
			}
		}
	}()
	err := e.Next()
	ok = err == nil
	return err
}

// deleteReached queues the delete's messages to be made now: judged on the
// data before the delete, for the subscribers as they are now (a user who
// deletes itself still hears of it, as in PocketBase).
func (b *Broadcaster) deleteReached(e *core.ModelEvent) error {
	b.pendingMu.Lock()
	ev := b.pending[e]
	b.pendingMu.Unlock()
	if ev != nil && !ev.queued {
		ev.queued = true
		_, waits := b.interested(ev.record)
		waits = waits && !b.fromWorker() // the worker's own delete (an enrich hook's) waits for nothing
		if waits {                       // inside the write transaction: see README, Realtime
			ev.processed = make(chan struct{})
		}
		b.push(item{event: ev})
		if waits {
			<-ev.processed
		}
	}
	return e.Next()
}

func (b *Broadcaster) takePending(e *core.ModelEvent) *event {
	b.pendingMu.Lock()
	defer b.pendingMu.Unlock()
	ev := b.pending[e]
	delete(b.pending, e)
	return ev
}

// takeFailed is the pending delete of model whose transaction failed:
// PocketBase reports that on a copy of the delete's event, with its model.
func (b *Broadcaster) takeFailed(model core.Model) *event {
	b.pendingMu.Lock()
	defer b.pendingMu.Unlock()
	for e, ev := range b.pending {
		if e.Model == model {
			delete(b.pending, e)
			return ev
		}
	}
	return nil
}

func (b *Broadcaster) deleted(e *core.ModelEvent) error {
	err := e.Next()
	if ev := b.takePending(e); ev != nil {
		if ev.queued {
			b.push(item{release: ev})
		} else { // stopped before PocketBase's own step: no message
			b.cancel(ev)
		}
	}
	return err
}

// cancel forgets a delete that will not be sent.
func (b *Broadcaster) cancel(ev *event) {
	if ev.queued {
		ev.cancelled = true
		b.push(item{release: ev})
		return
	}
	ev.snap.done()
}

// abandonedAfter is how long a delete may wait for its commit before its
// snapshot is released: a transaction that panicked runs no after-hook.
const abandonedAfter = 10 * time.Minute

func (b *Broadcaster) sweepPending() {
	b.pendingMu.Lock()
	var abandoned []*event
	for key, ev := range b.pending {
		if time.Since(ev.since) > abandonedAfter {
			abandoned = append(abandoned, ev)
			delete(b.pending, key)
		}
	}
	b.pendingMu.Unlock()
	for _, ev := range abandoned {
		b.app.Logger().Warn("realtime: a delete never committed nor failed; its event is dropped",
			"collection", ev.record.Collection().Name, "id", ev.record.Id)
		b.cancel(ev)
	}
}
