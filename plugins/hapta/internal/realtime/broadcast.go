package realtime

import (
	"encoding/json/v2"
	"log/slog"
	"strings"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/picker"
	"github.com/pocketbase/pocketbase/tools/search"
	"github.com/pocketbase/pocketbase/tools/subscriptions"
)

// verdict is a stage's answer for one subscriber before any query.
type verdict int

const (
	deny verdict = iota
	allow
	query // run the expression
)

// broadcast sends ev to every subscriber that PocketBase would send it
// to, with the same message. PocketBase's order of work is kept, as
// stages over the whole audience: the collection rule, the subscription's
// filter, then (for an auth record) whether the caller may see its email.
func (b *Broadcaster) broadcast(ev *event) []delivery {
	listeners := b.reg.listeners(ev.record)
	if len(listeners) == 0 {
		return nil
	}
	collection := ev.record.Collection()

	audience := b.stage(ev, listeners, true, func(s *subscriber) (verdict, string) {
		if s.superuser() {
			return allow, ""
		}
		return ruleVerdict(s.topic.rule(collection))
	})
	audience = b.stage(ev, audience, false, func(s *subscriber) (verdict, string) {
		filter := s.options.Query[search.FilterQueryParam]
		if filter == "" {
			return allow, ""
		}
		if !s.superuser() && readsSuperuserOnlyFields(s.options.Query) {
			return deny, ""
		}
		return query, filter
	})
	if len(audience) == 0 {
		return nil
	}

	managers := map[*subscriber]bool{}
	if collection.IsAuth() {
		for _, s := range b.stage(ev, audience, true, func(s *subscriber) (verdict, string) {
			if s.superuser() || sameAuth(s.state.auth, ev.record) {
				return allow, ""
			}
			return ruleVerdict(collection.ManageRule)
		}) {
			managers[s] = true
		}
	}
	return b.messages(ev, audience, managers)
}

func ruleVerdict(rule *string) (verdict, string) {
	switch {
	case rule == nil:
		return deny, ""
	case *rule == "":
		return allow, ""
	}
	return query, *rule
}

// readsSuperuserOnlyFields is PocketBase's refusal of @collection and
// @request in a non-superuser's filter or sort.
func readsSuperuserOnlyFields(q map[string]string) bool {
	for _, param := range []string{search.FilterQueryParam, search.SortQueryParam} {
		if v := q[param]; strings.Contains(v, "@collection.") || strings.Contains(v, "@request.") {
			return true
		}
	}
	return false
}

func sameAuth(a, b *core.Record) bool {
	return a != nil && b != nil && a.Id == b.Id && a.Collection().Id == b.Collection().Id
}

// stage keeps the subscribers that pass: those verdict allows, and those
// whose expression allows them. Subscribers are grouped by expression and
// by what the expression can read of them other than their id; each group
// is one query.
func (b *Broadcaster) stage(ev *event, subs []*subscriber, allowHidden bool, verdictOf func(*subscriber) (verdict, string)) []*subscriber {
	var passed []*subscriber
	groups := map[string][]*subscriber{}
	var order []string
	exprs := map[string]string{}
	for _, s := range subs {
		v, expr := verdictOf(s)
		switch v {
		case allow:
			passed = append(passed, s)
		case query:
			key := expr + "\x00" + s.state.callerKey
			// a rule reads the subscription's query and headers only by
			// naming them; a filter also through the list rules of the
			// collections it joins
			if !allowHidden || strings.Contains(expr, "@request.query") || strings.Contains(expr, "@request.headers") {
				key += "\x00" + s.optionsKey
			}
			if _, ok := groups[key]; !ok {
				order = append(order, key)
				exprs[key] = expr
			}
			groups[key] = append(groups[key], s)
		}
	}
	for _, key := range order {
		members := groups[key]
		c := check{db: ev.snap.db, plans: b.plans, app: b.app, record: ev.record, expr: exprs[key], allowHidden: allowHidden}
		if members[0].state.auth == nil {
			b.stats.SingleChecks.Add(1)
		} else {
			b.stats.GroupQueries.Add(1)
		}
		passed = append(passed, c.allowed(members)...)
	}
	return passed
}

// payloadKey names the subscribers that get the same message body.
type payloadKey struct {
	superuser, showEmail bool
	fields, expand       string
	// with an expand, the related records are loaded as the caller may
	// see them: per caller (with what the rules can read of it besides
	// its id) and options
	caller, options string
	// with enrich hooks bound, each subscriber's own
	each *subscriber
}

// recordData is PocketBase's realtime message body.
type recordData struct {
	Record any    `json:"record"`
	Action string `json:"action"`
}

// messages are ev's messages for its audience, each body made once per
// payload key.
func (b *Broadcaster) messages(ev *event, audience []*subscriber, managers map[*subscriber]bool) []delivery {
	perSubscriber := b.app.OnRecordEnrich().Length() > 0
	bodies := map[payloadKey][]byte{}
	deliveries := make([]delivery, 0, len(audience))
	var lastKey payloadKey
	var lastBody []byte
	for _, s := range audience {
		key := payloadKey{
			superuser: s.superuser(), showEmail: managers[s],
			fields: s.options.Query["fields"], expand: s.options.Query["expand"],
		}
		if key.expand != "" {
			key.options = s.optionsKey
			if auth := s.state.auth; auth != nil {
				key.caller = s.state.callerKey + "/" + auth.Id
			}
		}
		if perSubscriber {
			key.each = s
		}
		// subscribers with the same key come in runs: compare with the
		// last before hashing the key
		body, ok := lastBody, len(deliveries) > 0 && key == lastKey
		if !ok {
			if body, ok = bodies[key]; !ok {
				body = b.body(ev, s, key)
				bodies[key] = body
			}
			lastKey, lastBody = key, body
		}
		if body != nil {
			deliveries = append(deliveries, delivery{s.state.client, subscriptions.Message{Name: s.name, Data: body}})
		}
	}
	return deliveries
}

// body is the message body for subscribers like s; nil when PocketBase
// would send none (an enrich hook failed, or the encoding did). A panic
// (in an enrich hook, say) loses this body's subscribers only, as in
// PocketBase it loses no more than a chunk of its clients.
func (b *Broadcaster) body(ev *event, s *subscriber, key payloadKey) (encoded []byte) {
	defer func() {
		if r := recover(); r != nil {
			b.app.Logger().Error("realtime: a message could not be made", "panic", r, "sub", s.name,
				"collection", ev.record.Collection().Name, "id", ev.record.Id, "action", ev.action)
			encoded = nil
		}
	}()
	record := ev.record.Fresh()
	collection := record.Collection()
	if key.superuser {
		record.Unhide(collection.Fields.FieldNames()...)
	}
	ri := s.requestInfo(s.state.auth)
	err := enrich(b.app, ri, []*core.Record{record}, func() error {
		if key.expand != "" {
			if errs := b.app.ExpandRecord(record, strings.Split(key.expand, ","), expandFetch(b.app, ri)); len(errs) > 0 {
				b.app.Logger().Debug("realtime: expand errors", slog.String("sub", s.name), slog.Any("errors", errs))
			}
		}
		if collection.IsAuth() && key.showEmail {
			record.IgnoreEmailVisibility(true)
		}
		return nil
	})
	if err != nil {
		b.app.Logger().Debug("realtime: record enrich error", slog.String("sub", s.name), slog.Any("error", err))
		return nil
	}
	data := &recordData{Action: ev.action, Record: record}
	if key.fields != "" {
		if picked, err := picker.Pick(record, key.fields); err == nil {
			data.Record = picked
		}
	}
	encoded, err = json.Marshal(data)
	if err != nil {
		return nil
	}
	return encoded
}
