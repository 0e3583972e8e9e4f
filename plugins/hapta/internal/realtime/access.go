package realtime

import (
	dbsql "database/sql"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/search"
	"github.com/pocketbase/pocketbase/tools/security"
)

// A check asks which of a group's subscribers may see one record under
// one expression (a collection rule or a subscription's filter), with the
// resolver PocketBase uses for it. The group shares everything the
// expression can read of a caller except the caller's id: the auth
// collection, the verified and emailVisibility flags, the subscription's
// query and headers (see groupKey). The id is bound as a JSON array that
// the query walks with json_each, so the group costs one query.
type check struct {
	db          dbx.Builder // the event's snapshot
	plans       plans
	app         core.App
	record      *core.Record
	expr        string
	allowHidden bool // a rule: true; a client's filter: false
}

// allowed returns the members (all of one group) that may see the record.
func (c check) allowed(members []*subscriber) []*subscriber {
	first := members[0]
	if first.state.auth == nil {
		if c.one(first.requestInfo(first.state.auth)) {
			return members
		}
		return nil
	}
	ids, ok := c.grouped(first, members)
	if !ok { // an expression the grouped query cannot carry: one by one
		var out []*subscriber
		for _, m := range members {
			if c.one(m.requestInfo(m.state.auth)) {
				out = append(out, m)
			}
		}
		return out
	}
	var out []*subscriber
	for _, m := range members {
		if ids[m.state.auth.Id] {
			out = append(out, m)
		}
	}
	return out
}

// one checks a single caller as PocketBase's CanAccessRecord does.
func (c check) one(ri *core.RequestInfo) bool {
	collection := c.record.Collection()
	q := c.db.Select("(1)").From(collection.Name).AndWhere(dbx.HashExp{collection.Name + ".id": c.record.Id})
	resolver := core.NewRecordFieldResolver(c.app, collection, ri, c.allowHidden)
	expr, err := search.FilterData(c.expr).BuildExpr(resolver)
	if err != nil {
		return false
	}
	q.AndWhere(expr)
	if err := resolver.UpdateQuery(q); err != nil {
		return false
	}
	var exists int
	return q.Limit(1).Row(&exists) == nil && exists > 0
}

// grouped checks the group with the query PocketBase would run for one
// caller, built once for a stand-in caller whose id and email are random
// strings: a bound value equal to the stand-in id becomes the caller's id.
// The query runs once for all, over the ids as a JSON array (json_each),
// unless SQLite would then scan a table it searches by index for a single
// caller (a LEFT JOIN without ON, as @collection makes, is one): then it
// is prepared once and run per caller. ok is false when the stand-in shows
// up any other way (in a LIKE pattern, or the email, which PocketBase
// binds from each caller's own record) or the query fails: the members are
// then checked one by one, as PocketBase does.
func (c check) grouped(first *subscriber, members []*subscriber) (map[string]bool, bool) {
	auth := first.state.auth
	standIn := core.NewRecord(auth.Collection())
	standIn.Id = "__rt" + security.PseudorandomString(30)
	standInEmail := "__rt" + security.PseudorandomString(30)
	standIn.SetEmail(standInEmail)
	standIn.SetVerified(auth.Verified())
	standIn.SetEmailVisibility(auth.EmailVisibility())

	collection := c.record.Collection()
	q := c.db.Select("(1)").From(collection.Name).AndWhere(dbx.HashExp{collection.Name + ".id": c.record.Id})
	resolver := core.NewRecordFieldResolver(c.app, collection, first.requestInfo(standIn), c.allowHidden)
	expr, err := search.FilterData(c.expr).BuildExpr(resolver)
	if err != nil {
		return nil, false
	}
	q.AndWhere(expr)
	if err := resolver.UpdateQuery(q); err != nil {
		return nil, false
	}
	built := q.Build()
	sql, params := built.SQL(), dbx.Params{}
	for name, value := range built.Params() {
		s, _ := value.(string)
		switch {
		case s == standIn.Id:
			sql = strings.ReplaceAll(sql, "{:"+name+"}", callerPlaceholder)
		case strings.Contains(s, standIn.Id) || strings.Contains(s, standInEmail):
			return nil, false
		default:
			params[name] = value
		}
	}

	seen := make(map[string]bool, len(members))
	ids := make([]string, 0, len(members))
	for _, m := range members {
		if id := m.state.auth.Id; !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	allowed := make(map[string]bool, len(ids))
	// the plan's shape follows from the expression and the collections; the
	// SQL text has random names in it
	planKey := collection.Id + "\x00" + auth.Collection().Id + "\x00" + strconv.FormatBool(c.allowHidden) + "\x00" + c.expr
	if c.plans.scans(c.db, planKey, sql, params) {
		stmt := c.db.NewQuery(sql).Prepare()
		defer stmt.Close()
		for _, id := range ids {
			params[callerParam] = id
			var exists int
			if err := stmt.Bind(params).Row(&exists); err == nil && exists > 0 {
				allowed[id] = true
			} else if err != nil && !errors.Is(err, dbsql.ErrNoRows) {
				return nil, false
			}
		}
		return allowed, true
	}
	idsJSON, _ := json.Marshal(ids)
	params[callersParam] = string(idsJSON)
	var found []string
	if err := c.db.NewQuery(forEachCaller(sql)).Bind(params).Column(&found); err != nil {
		return nil, false
	}
	for _, id := range found {
		allowed[id] = true
	}
	return allowed, true
}

const (
	callerParam       = "rtCaller"
	callersParam      = "rtCallers"
	callerPlaceholder = "{:" + callerParam + "}"
)

// forEachCaller turns a caller's query into the query of every caller in
// the JSON array bound as rtCallers.
func forEachCaller(sql string) string {
	return "SELECT [[__rt_caller.value]] FROM json_each({:" + callersParam + "}) [[__rt_caller]] WHERE EXISTS (" +
		strings.ReplaceAll(sql, callerPlaceholder, "[[__rt_caller.value]]") + ")"
}

// plans remembers, per expression, collection and caller's collection,
// whether SQLite's plan for all callers at once scans a table; forgotten
// when a collection changes.
type plans map[string]bool

func (p plans) scans(db dbx.Builder, key, sql string, params dbx.Params) bool {
	if scans, ok := p[key]; ok {
		return scans
	}
	withCallers := dbx.Params{callersParam: "[]"}
	for name, value := range params {
		withCallers[name] = value
	}
	var steps []struct {
		Detail string `db:"detail"`
	}
	scans := true // a plan that cannot be read: the per-caller form is safe
	if db.NewQuery("EXPLAIN QUERY PLAN "+forEachCaller(sql)).Bind(withCallers).All(&steps) == nil {
		scans = false
		for _, step := range steps {
			if strings.HasPrefix(step.Detail, "SCAN ") && !strings.Contains(step.Detail, "VIRTUAL TABLE") {
				scans = true
			}
		}
	}
	if len(p) > 1000 { // filters vary: forget the old ones
		clear(p)
	}
	p[key] = scans
	return scans
}
