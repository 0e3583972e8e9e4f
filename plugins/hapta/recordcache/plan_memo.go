package recordcache

import (
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/pocketbase/pocketbase/core"
)

// planMemo remembers read plans: analyzing rules, filters and expands on
// every request would cost more than the cache saves. A plan depends on the
// collections' schemas and rules (the schema epoch is in the key), the
// query (for its filter, sort and expand), and the caller's collection;
// the record id is added after.
// Any change of a collection starts a new schema epoch, and new plans.
type planMemo struct {
	mu    sync.Mutex
	plans map[string]readPlan
}

// maxPlans bounds the memo; it starts over when full.
const maxPlans = 4096

// get plans a read with its raw query string; schemaEpoch changes whenever
// any collection does.
func (m *planMemo) get(app core.App, schemaEpoch uint64, collection *core.Collection, recordID, rawQuery string, auth *core.Record) readPlan {
	callerKind := "anonymous"
	if auth != nil {
		callerKind = auth.Collection().Id
		if auth.IsSuperuser() {
			callerKind = "superuser"
		}
	}
	view := recordID != ""
	key := strings.Join([]string{strconv.FormatUint(schemaEpoch, 10), collection.Id, strconv.FormatBool(view), rawQuery, callerKind}, "\x00")

	m.mu.Lock()
	plan, ok := m.plans[key]
	m.mu.Unlock()
	if !ok {
		query, _ := url.ParseQuery(rawQuery)
		plan = planRead(app, collection, view, query.Get("filter"), query.Get("sort"), query.Get("expand"), auth)
		m.mu.Lock()
		if m.plans == nil || len(m.plans) >= maxPlans {
			m.plans = map[string]readPlan{}
		}
		m.plans[key] = plan
		m.mu.Unlock()
	}
	if recordID != "" {
		plan.deps.Record = &RecordRef{CollectionID: collection.Id, ID: recordID}
	}
	return plan
}
