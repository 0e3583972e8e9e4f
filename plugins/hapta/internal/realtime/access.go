package realtime

import (
	"encoding/json"
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
	app         core.App
	record      *core.Record
	expr        string
	allowHidden bool // a rule: true; a client's filter: false
}

// callerColumn stands for the caller's id in a group's query.
const callerColumn = "[[__rt_caller.value]]"

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

// grouped runs the group's one query: the expression is built for a
// stand-in caller whose id and email are random strings; a bound value
// equal to the stand-in id becomes the json_each column. ok is false when
// the stand-in shows up any other way (in a LIKE pattern, or the email,
// which PocketBase binds from each caller's own record) or the query
// fails: the members are then checked one by one, as PocketBase does.
func (c check) grouped(first *subscriber, members []*subscriber) (map[string]bool, bool) {
	auth := first.state.auth
	standIn := core.NewRecord(auth.Collection())
	standIn.Id = "__rt" + security.PseudorandomString(30)
	standInEmail := "__rt" + security.PseudorandomString(30)
	standIn.SetEmail(standInEmail)
	standIn.SetVerified(auth.Verified())
	standIn.SetEmailVisibility(auth.EmailVisibility())

	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = m.state.auth.Id
	}
	idsJSON, _ := json.Marshal(ids)

	collection := c.record.Collection()
	q := c.db.Select(callerColumn).Distinct(true).
		From(collection.Name, "json_each({:rtCallers}) [[__rt_caller]]").
		AndWhere(dbx.HashExp{collection.Name + ".id": c.record.Id}).
		Bind(dbx.Params{"rtCallers": string(idsJSON)})
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
			sql = strings.ReplaceAll(sql, "{:"+name+"}", callerColumn)
		case strings.Contains(s, standIn.Id) || strings.Contains(s, standInEmail):
			return nil, false
		default:
			params[name] = value
		}
	}
	var allowed []string
	if err := c.db.NewQuery(sql).Bind(params).Column(&allowed); err != nil {
		return nil, false
	}
	out := make(map[string]bool, len(allowed))
	for _, id := range allowed {
		out[id] = true
	}
	return out, true
}
