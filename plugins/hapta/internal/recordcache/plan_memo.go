package recordcache

import (
	"net/url"

	"github.com/maypok86/otter/v2"
	"github.com/pocketbase/pocketbase/core"
)

// planMemo remembers read plans: analyzing rules, filters and expands on
// every request would cost more than the cache saves. A plan depends on the
// collections' schemas and rules (the schema epoch is in the key), the
// query (for its filter, sort and expand), and the caller's collection;
// the record id is added after. Any change of a collection starts a new
// schema epoch, and new plans.
type planMemo struct {
	plans *otter.Cache[planKey, readPlan]
}

// planKey names a plan; its strings are the request's and the app's own,
// so making one allocates nothing.
type planKey struct {
	schemaEpoch  uint64
	collectionID string
	view         bool
	rawQuery     string
	callerKind   string // "anonymous", "superuser", or the caller's collection id
}

const (
	// planMemoBytes bounds the memo (keys and plans), whatever the queries
	planMemoBytes = 4 << 20
	// maxMemoizedQuery: plans of longer queries are analyzed each time
	// rather than let a few huge queries push the others out
	maxMemoizedQuery = 8 << 10
)

func newPlanMemo() planMemo {
	return planMemo{plans: otter.Must(&otter.Options[planKey, readPlan]{
		MaximumWeight: planMemoBytes,
		Weigher: func(key planKey, plan readPlan) uint32 {
			weight := len(key.rawQuery) + 96 + 48*len(plan.deps.Collections)
			for _, reads := range plan.deps.Reads {
				weight += 48 + 32*len(reads.Fields)
			}
			return uint32(weight)
		},
	})}
}

// get plans a read with its raw query string; schemaEpoch changes whenever
// any collection does.
func (m planMemo) get(app core.App, schemaEpoch uint64, collection *core.Collection, recordID, rawQuery string, auth *core.Record) readPlan {
	callerKind := "anonymous"
	if auth != nil {
		callerKind = auth.Collection().Id
		if auth.IsSuperuser() {
			callerKind = "superuser"
		}
	}
	view := recordID != ""
	key := planKey{schemaEpoch, collection.Id, view, rawQuery, callerKind}

	plan, ok := m.plans.GetIfPresent(key)
	if !ok {
		query, _ := url.ParseQuery(rawQuery)
		plan = planRead(app, collection, view, query.Get("filter"), query.Get("sort"), query.Get("expand"), query.Get("fields"), auth)
		plan.deps.Epoch = schemaEpoch
		if len(rawQuery) <= maxMemoizedQuery {
			m.plans.Set(key, plan)
		}
	}
	if view {
		plan.deps.Record = RecordRef{CollectionID: collection.Id, ID: recordID}
	}
	return plan
}
