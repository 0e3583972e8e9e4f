package realtime

import (
	"sync"
	"sync/atomic"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
	"github.com/pocketbase/pocketbase/tools/subscriptions"
)

// PocketBase's router binds its broadcast handlers at priority -99 (99 for
// a delete's dry run), without ids. They find none of the wrapped clients'
// record subscriptions, but they still walk every client on each write, on
// the writer's goroutine (about 5 ms per write at 10,000 clients). So the
// broadcaster brackets them: a handler bound before them (at Bind, before
// the router exists) gives the event an app whose broker holds only the
// clients it does not wrap, and one bound after them (SealAfterRouter, in
// OnServe) gives the real app back. PocketBase's auth bookkeeping for the
// wrapped clients, which the bracket hides from it too, is done here with
// an index by auth record.

// otherClients is the app PocketBase's handlers see inside the bracket.
type otherClients struct {
	core.App
	broker *subscriptions.Broker
}

func (a otherClients) SubscriptionsBroker() *subscriptions.Broker { return a.broker }

// bracket is the state of the bracket around PocketBase's handlers.
type bracket struct {
	seal   sync.Once
	sealed atomic.Bool           // the closing handlers are bound
	others *subscriptions.Broker // the clients not wrapped that connected
	// the ids of the wrapped clients in the app's broker, and how many
	// clients the broadcaster registered there (wrapped ones and others):
	// the broker also holds what code registered itself
	wrapped sync.Map
	known   atomic.Int64

	mu     sync.Mutex
	byAuth map[string]map[*Client]struct{} // wrapped clients by auth collection name + "/" + id
}

func authKey(auth *core.Record) string { return auth.Collection().Name + "/" + auth.Id }

// authSet keeps the index by auth of the wrapped clients.
func (b *Broadcaster) authSet(c *Client, old, auth *core.Record) {
	b.leftover.mu.Lock()
	defer b.leftover.mu.Unlock()
	if old != nil {
		if set := b.leftover.byAuth[authKey(old)]; set != nil {
			delete(set, c)
			if len(set) == 0 {
				delete(b.leftover.byAuth, authKey(old))
			}
		}
	}
	if auth != nil {
		set := b.leftover.byAuth[authKey(auth)]
		if set == nil {
			set = map[*Client]struct{}{}
			b.leftover.byAuth[authKey(auth)] = set
		}
		set[c] = struct{}{}
	}
}

func (b *Broadcaster) clientsOf(collectionName, id string) []*Client {
	b.leftover.mu.Lock()
	defer b.leftover.mu.Unlock()
	var out []*Client
	for c := range b.leftover.byAuth[collectionName+"/"+id] {
		out = append(out, c)
	}
	return out
}

// openBracket hides the wrapped clients from the handlers up to the
// closing one; before that, it does for them what PocketBase's auth
// bookkeeping does: a changed token key signs the client out, other
// changes refresh its auth record, a deleted one signs it out.
func (b *Broadcaster) openBracket(bookkeeping func(e *core.ModelEvent)) func(*core.ModelEvent) error {
	return func(e *core.ModelEvent) error {
		if bookkeeping != nil {
			bookkeeping(e)
		}
		if !b.leftover.sealed.Load() {
			return e.Next()
		}
		real := e.App
		e.App = otherClients{App: real, broker: b.unwrapped(real.SubscriptionsBroker())}
		defer func() { e.App = real }()
		return e.Next()
	}
}

// unwrapped is a broker of the clients in all that the broadcaster does
// not wrap: others, unless code registered clients of its own in all (as
// PocketBase allows), which PocketBase's handlers must see too: then they
// are walked for, as PocketBase walks every client.
func (b *Broadcaster) unwrapped(all *subscriptions.Broker) *subscriptions.Broker {
	others := b.leftover.others
	if all.TotalClients() <= int(b.leftover.known.Load()) {
		return others
	}
	found := subscriptions.NewBroker()
	for id, client := range all.Clients() {
		if _, wrapped := b.leftover.wrapped.Load(id); !wrapped {
			found.Register(client)
		}
	}
	return found
}

// registered puts a client the broadcaster knows of in the app's broker
// and counts it; the returned func takes it out before uncounting it. So
// the count never exceeds what the broker holds of these clients, and a
// client registered by code is never hidden by one that is connecting.
// A wrapped client's id stays known while it is in the broker.
func (b *Broadcaster) registered(broker *subscriptions.Broker, client subscriptions.Client, wrapped bool) (unregister func()) {
	id := client.Id()
	if wrapped {
		b.leftover.wrapped.Store(id, struct{}{})
	}
	broker.Register(client)
	b.leftover.known.Add(1)
	return func() {
		b.leftover.known.Add(-1)
		broker.Unregister(id)
		if wrapped {
			b.leftover.wrapped.Delete(id)
		}
	}
}

// closeBracket gives the handlers after PocketBase's the real app back. (An
// error event's handlers get its ModelEvent: the chain is the same.)
func closeBracket(e *core.ModelEvent) error {
	if hidden, ok := e.App.(otherClients); ok {
		e.App = hidden.App
	}
	return e.Next()
}

func (b *Broadcaster) authUpdated(e *core.ModelEvent) {
	record := recordOf(e.App, e.Model, (*core.Collection).IsAuth)
	if record == nil || !record.Collection().IsAuth() {
		return
	}
	for _, c := range b.clientsOf(record.Collection().Name, record.Id) {
		if auth, _ := c.Get(apis.RealtimeClientAuthKey).(*core.Record); auth != nil && auth.TokenKey() != record.TokenKey() {
			c.Unset(apis.RealtimeClientAuthKey)
		} else {
			c.Set(apis.RealtimeClientAuthKey, record)
		}
	}
}

func (b *Broadcaster) authDeleted(e *core.ModelEvent) {
	id, _ := e.Model.PK().(string)
	for _, c := range b.clientsOf(e.Model.TableName(), id) {
		c.Unset(apis.RealtimeClientAuthKey)
	}
}

// bindBracketOpeners binds the opening handlers: at Bind, before the router
// binds PocketBase's.
func (b *Broadcaster) bindBracketOpeners() {
	b.app.OnModelAfterCreateSuccess().Bind(&hook.Handler[*core.ModelEvent]{
		Id: "haptaRealtimeHideCreate", Priority: -99, Func: b.openBracket(nil),
	})
	b.app.OnModelAfterUpdateSuccess().Bind(&hook.Handler[*core.ModelEvent]{
		Id: "haptaRealtimeHideUpdate", Priority: -99, Func: b.openBracket(b.authUpdated),
	})
	b.app.OnModelDelete().Bind(&hook.Handler[*core.ModelEvent]{
		Id: "haptaRealtimeHideDelete", Priority: 99, Func: b.openBracket(nil),
	})
	b.app.OnModelAfterDeleteSuccess().Bind(&hook.Handler[*core.ModelEvent]{
		Id: "haptaRealtimeHideDeleted", Priority: -99, Func: b.openBracket(b.authDeleted),
	})
	open := b.openBracket(nil)
	b.app.OnModelAfterDeleteError().Bind(&hook.Handler[*core.ModelErrorEvent]{
		Id: "haptaRealtimeHideDeleteFailed", Priority: -99, Func: func(e *core.ModelErrorEvent) error { return open(&e.ModelEvent) },
	})
}

// SealAfterRouter binds the closing handlers, after PocketBase's router
// bound its own (in OnServe): from then on PocketBase's broadcasts walk
// only the clients the broadcaster does not wrap.
func (b *Broadcaster) SealAfterRouter() {
	b.leftover.seal.Do(b.bindBracketClosers)
}

func (b *Broadcaster) bindBracketClosers() {
	defer b.leftover.sealed.Store(true)
	b.app.OnModelAfterCreateSuccess().Bind(&hook.Handler[*core.ModelEvent]{Id: "haptaRealtimeShowCreate", Priority: -99, Func: closeBracket})
	b.app.OnModelAfterUpdateSuccess().Bind(&hook.Handler[*core.ModelEvent]{Id: "haptaRealtimeShowUpdate", Priority: -99, Func: closeBracket})
	b.app.OnModelDelete().Bind(&hook.Handler[*core.ModelEvent]{Id: "haptaRealtimeShowDelete", Priority: 99, Func: closeBracket})
	b.app.OnModelAfterDeleteSuccess().Bind(&hook.Handler[*core.ModelEvent]{Id: "haptaRealtimeShowDeleted", Priority: -99, Func: closeBracket})
	b.app.OnModelAfterDeleteError().Bind(&hook.Handler[*core.ModelErrorEvent]{
		Id: "haptaRealtimeShowDeleteFailed", Priority: -99, Func: func(e *core.ModelErrorEvent) error { return closeBracket(&e.ModelEvent) },
	})
}
