package realtime

import (
	"sync"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/subscriptions"
)

// event is one committed record change, waiting for the broadcaster.
type event struct {
	action string
	record *core.Record // a copy taken at the commit
	snap   *snapshot

	// processed is closed when the event is processed (for a writer that
	// waits), nil when nobody waits
	processed chan struct{}
	// a delete's messages are made before the delete (prepare; queued
	// once they are asked for) and sent at its commit, or cancelled
	prepare           bool
	queued, cancelled bool
	deliveries        []delivery
	since             time.Time
}

// delivery is one message for one client.
type delivery struct {
	client  *Client
	message subscriptions.Message
}

// finish releases the event's snapshot and its waiting writer.
func (ev *event) finish() {
	ev.snap.done()
	if ev.processed != nil {
		close(ev.processed)
	}
}

// snapshot is a read transaction begun right after a commit (before it,
// for a delete): the event's access checks read the data as the event
// left it, however late the broadcaster gets to it. One read transaction
// serves all the deletes of one write transaction.
type snapshot struct {
	db      dbx.Builder
	release func()

	mu   sync.Mutex
	refs int
}

func (s *snapshot) done() {
	s.mu.Lock()
	s.refs--
	last := s.refs == 0
	s.mu.Unlock()
	if last {
		s.release()
	}
}

// recordOf is the record of a model event, found as PocketBase finds it
// (realtimeResolveRecord): a record, a record proxy, or a custom model
// struct of a collection's table, read from app when its collection is
// wanted (nil for logs).
func recordOf(app core.App, model core.Model, wanted func(*core.Collection) bool) *core.Record {
	switch m := model.(type) {
	case *core.Record:
		return m
	case core.RecordProxy:
		return m.ProxyRecord()
	}
	if model.TableName() == core.LogsTableName {
		return nil
	}
	collection, err := app.FindCachedCollectionByNameOrId(model.TableName())
	if err != nil || !wanted(collection) {
		return nil
	}
	id, _ := model.PK().(string)
	record, err := app.FindRecordById(collection, id)
	if err != nil {
		return nil
	}
	return record
}

// pin begins a read transaction and reads from it, which fixes its view
// of the data. A counted pin waits while the broadcaster already holds its
// limit of them: writes then go at the broadcaster's pace (a delete's pin
// is not counted: it is taken inside the write transaction, and waiting
// there could wait for itself). Without a transaction (an unexpected
// database handle, or an error) the event is checked on the live data, as
// PocketBase checks it.
func (b *Broadcaster) pin(counted bool) *snapshot {
	live := &snapshot{db: b.app.ConcurrentDB(), release: func() {}, refs: 1}
	db, ok := b.app.ConcurrentDB().(*dbx.DB)
	if !ok {
		return live
	}
	unpin := func() {}
	if counted {
		b.pins <- struct{}{}
		unpin = func() { <-b.pins }
	}
	tx, err := db.Begin()
	if err != nil {
		unpin()
		b.app.Logger().Warn("realtime: no read snapshot, the event is checked on live data", "error", err)
		return live
	}
	var tables int
	if err := tx.NewQuery("SELECT count(*) FROM sqlite_master").Row(&tables); err != nil {
		_ = tx.Rollback()
		unpin()
		b.app.Logger().Warn("realtime: no read snapshot, the event is checked on live data", "error", err)
		return live
	}
	return &snapshot{db: tx, refs: 1, release: func() { _ = tx.Rollback(); unpin() }}
}

// deleteSnapshot is the snapshot for a delete in app: the data before the
// write transaction, shared by every delete in it (a cascade can delete
// many records).
func (b *Broadcaster) deleteSnapshot(app core.App) *snapshot {
	if !app.IsTransactional() {
		return b.pin(false)
	}
	key := app.NonconcurrentDB()
	b.txMu.Lock()
	if s := b.txSnaps[key]; s != nil {
		s.mu.Lock()
		alive := s.refs > 0
		if alive {
			s.refs++
		}
		s.mu.Unlock()
		if alive {
			b.txMu.Unlock()
			return s
		}
	}
	b.txMu.Unlock()
	// pinned without the lock: pin can wait for the broadcaster, which
	// takes the lock to release a snapshot
	s := b.pin(false)
	release := s.release
	s.release = func() {
		b.txMu.Lock()
		if b.txSnaps[key] == s {
			delete(b.txSnaps, key)
		}
		b.txMu.Unlock()
		release()
	}
	b.txMu.Lock()
	b.txSnaps[key] = s
	b.txMu.Unlock()
	return s
}
