package realtime

import (
	"encoding/json"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/subscriptions"
)

// registry is who listens to which records. Only the broadcaster's
// goroutine reads or changes it: changes arrive in the same queue as the
// events, so each event meets the subscriptions and the auth its clients
// had when it committed.
type registry struct {
	clients map[*Client]*clientState
	// by collection name or id, as the topics write it
	byCollection map[string]map[*subscriber]struct{}
}

type clientState struct {
	client *Client
	auth   *core.Record
	// callerKey names what a check can read of the caller besides its id
	// ("" for a guest); made when the auth is set, not per event
	callerKey string
	subs      map[string]*subscriber
}

// subscriber is one record subscription of one client.
type subscriber struct {
	state   *clientState
	name    string // the subscription as subscribed, options included: the message's name
	topic   topic
	options subscriptions.SubscriptionOptions
	// optionsKey is the options in one canonical form, for grouping
	optionsKey string
}

func newRegistry() *registry {
	return &registry{clients: map[*Client]*clientState{}, byCollection: map[string]map[*subscriber]struct{}{}}
}

func (r *registry) state(c *Client) *clientState {
	s := r.clients[c]
	if s == nil {
		s = &clientState{client: c, subs: map[string]*subscriber{}}
		r.clients[c] = s
	}
	return s
}

func (r *registry) subscribe(c *Client, name string, t topic, options subscriptions.SubscriptionOptions) {
	s := r.state(c)
	r.unsubscribe(c, name)
	key, _ := json.Marshal(options) // maps marshal in key order
	sub := &subscriber{state: s, name: name, topic: t, options: options, optionsKey: string(key)}
	s.subs[name] = sub
	set := r.byCollection[t.collection]
	if set == nil {
		set = map[*subscriber]struct{}{}
		r.byCollection[t.collection] = set
	}
	set[sub] = struct{}{}
}

func (r *registry) unsubscribe(c *Client, name string) {
	s := r.clients[c]
	if s == nil {
		return
	}
	sub := s.subs[name]
	if sub == nil {
		return
	}
	delete(s.subs, name)
	set := r.byCollection[sub.topic.collection]
	delete(set, sub)
	if len(set) == 0 {
		delete(r.byCollection, sub.topic.collection)
	}
}

func (r *registry) unsubscribeAll(c *Client) {
	if s := r.clients[c]; s != nil {
		for name := range s.subs {
			r.unsubscribe(c, name)
		}
	}
}

func (r *registry) setAuth(c *Client, auth *core.Record) {
	s := r.state(c)
	s.auth, s.callerKey = auth, callerKey(auth)
}

func (r *registry) remove(c *Client) {
	r.unsubscribeAll(c)
	delete(r.clients, c)
}

// listeners are the subscriptions an event on record can concern: its
// collection's lists and its own view.
func (r *registry) listeners(record *core.Record) []*subscriber {
	collection := record.Collection()
	var out []*subscriber
	add := func(set map[*subscriber]struct{}) {
		for sub := range set {
			if sub.topic.recordID == "" || sub.topic.recordID == record.Id {
				out = append(out, sub)
			}
		}
	}
	add(r.byCollection[collection.Name])
	if collection.Id != collection.Name {
		add(r.byCollection[collection.Id])
	}
	return out
}

// requestInfo is the request PocketBase makes up for a subscriber when it
// checks access, with auth as the caller.
func (s *subscriber) requestInfo(auth *core.Record) *core.RequestInfo {
	return &core.RequestInfo{
		Context: core.RequestInfoContextRealtime,
		Method:  "GET",
		Query:   s.options.Query,
		Headers: s.options.Headers,
		Auth:    auth,
	}
}

func (s *subscriber) superuser() bool { return s.state.auth != nil && s.state.auth.IsSuperuser() }

// callerKey is the key of what a check can read of auth besides its id:
// its collection (id, and name: a client keeps the collection it signed in
// with, renamed since or not) and its verified and emailVisibility flags.
func callerKey(auth *core.Record) string {
	if auth == nil {
		return ""
	}
	flags := []byte("--")
	if auth.Verified() {
		flags[0] = 'v'
	}
	if auth.EmailVisibility() {
		flags[1] = 'e'
	}
	return auth.Collection().Id + "/" + auth.Collection().Name + "/" + string(flags)
}
