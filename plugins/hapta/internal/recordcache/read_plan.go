package recordcache

import (
	"regexp"
	"slices"
	"strings"

	"github.com/ganigeorgiev/fexpr"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/dbutils"
	"github.com/pocketbase/pocketbase/tools/search"
)

// readPlan is what a cached read of PocketBase's record API depends on.
type readPlan struct {
	deps Deps
	// readsAuth: an expression reads @request.auth, so the answer is the
	// caller's own, superusers included
	readsAuth bool
	// perCaller: records show more to their owner or a manager (an auth
	// record's email), so each caller but a superuser has its own answer
	perCaller bool
	bypass    string // why the read must not be cached ("" when it may)
}

// Why a read bypasses the cache; the statistics count each.
const (
	BypassClock       = "reads the clock"
	BypassRandom      = "sorts at random"
	BypassRequestData = "reads the request's body, query, headers or context"
	BypassUnknown     = "uses syntax the cache does not analyze"
	BypassViewSQL     = "a view collection whose SQL may read the clock"
	BypassReadHooks   = "read hooks are bound"
	BypassTransaction = "runs inside a transaction"
)

// maxNestedRelations is PocketBase's limit on relation paths and expands
// (maxNestedRels in core): deeper steps are not followed by PocketBase.
const maxNestedRelations = 6

// timeMacros are PocketBase's identifier macros: all read the clock.
var timeMacros = []string{
	"@now", "@yesterday", "@tomorrow", "@second", "@minute", "@hour", "@day", "@month", "@weekday", "@year",
	"@todayStart", "@todayEnd", "@monthStart", "@monthEnd", "@yearStart", "@yearEnd",
}

var (
	// PocketBase's back-relation forms, as its resolver and expand read them
	backRelation       = regexp.MustCompile(`^(\w+)_via_(\w+)$`)
	legacyBackRelation = regexp.MustCompile(`^(\w+)\((\w+)\)$`)
)

// planRead analyzes a read of collection (one record when view, whose
// RecordRef the caller adds) with PocketBase's query parameters, by auth
// (nil: anonymous), the way PocketBase's record API evaluates it: the
// rules and the filter parsed by fexpr, PocketBase's parser; relation and
// back-relation paths followed through the schema; the list rules that
// PocketBase applies to a filter's joins for non-superusers; expands
// normalized as PocketBase normalizes them, with the view rules of what
// they reach. What it does not positively understand bypasses the cache.
func planRead(app core.App, collection *core.Collection, view bool, filter, sort, expand, fields string, auth *core.Record) readPlan {
	p := &planner{app: app, superuser: auth != nil && auth.IsSuperuser(), auth: auth, main: collection, view: view}
	// a `fields` modifier may rewrite the ids that Listed reads
	p.joined = strings.Contains(fields, ":")

	if view {
		// the record itself is the caller's RecordRef: other records of
		// the collection matter only where the rule reads them
		if collection.IsView() {
			p.depend(collection)
		}
		p.rule(collection, collection.ViewRule)
	} else {
		// which records are listed depends on the membership and the
		// fields the rule, filter and sort read; what they show, on the
		// records (Deps.Listed)
		p.join(collection, false)
		p.rule(collection, collection.ListRule)
		// PocketBase resolves the client's filter and sort with hidden
		// fields off for non-superusers: each join then adds the joined
		// collection's list rule
		p.expression(collection, filter, !p.superuser)
		p.sort(collection, sort, !p.superuser)
	}
	if collection.IsAuth() {
		p.ownerView(collection)
	}
	p.expand(collection, expand)
	p.finish()
	return p.plan
}

type planner struct {
	app       core.App
	superuser bool
	auth      *core.Record
	main      *core.Collection // the collection read
	view      bool             // one record of it
	plan      readPlan
	// reads are the fields read of collections joined by a path (the
	// listed one included), by collection id, in the order first read
	reads []FieldReads
	// joined: PocketBase's query joins tables (or the answer's ids may be
	// rewritten), so a list's order and rows may depend on more than
	// its collection's read fields: it depends on every write of it
	joined bool
	// analyzing tells which list rules are being analyzed, against cycles
	analyzing []string
}

func (p *planner) refuse(reason string) {
	if p.plan.bypass == "" {
		p.plan.bypass = reason
	}
}

// depend makes the answer depend on every write to collection.
func (p *planner) depend(collection *core.Collection) {
	if !slices.Contains(p.plan.deps.Collections, collection.Id) {
		p.plan.deps.Collections = append(p.plan.deps.Collections, collection.Id)
	}
	if collection.IsView() {
		p.plan.deps.AnyWrite = true // its sources are not tracked
		if viewMayReadClock(p.app, collection, nil) {
			p.refuse(BypassViewSQL)
		}
	}
}

// read notes a field of a joined collection that an expression reads.
func (p *planner) read(collection *core.Collection, field string) {
	i := slices.IndexFunc(p.reads, func(r FieldReads) bool { return r.CollectionID == collection.Id })
	if i < 0 {
		p.reads = append(p.reads, FieldReads{CollectionID: collection.Id})
		i = len(p.reads) - 1
	}
	if field != "" && !slices.Contains(p.reads[i].Fields, field) {
		p.reads[i].Fields = append(p.reads[i].Fields, field)
	}
}

// finish keeps the field reads of the collections that no other part of
// the answer depends on as a whole; a list of such a collection, read
// without joins, depends on the records it shows instead of all of them.
// Without a complete ORDER BY, SQLite returns a list's rows in the order
// of the index it scans: a list reads the indexed columns of what it reads.
func (p *planner) finish() {
	deps := &p.plan.deps
	if !p.view {
		if p.joined {
			// DISTINCT over joins may order rows by any column
			p.depend(p.main)
		}
		for _, reads := range p.reads {
			p.readIndexed(reads.CollectionID)
		}
	}
	for _, reads := range p.reads {
		if !slices.Contains(deps.Collections, reads.CollectionID) {
			deps.Reads = append(deps.Reads, reads)
		}
	}
	if !p.view && !slices.Contains(deps.Collections, p.main.Id) {
		deps.Listed = p.main.Id
	}
}

// readIndexed reads the columns of a collection's indexes; an index on an
// expression makes the answer depend on every write of the collection.
func (p *planner) readIndexed(collectionID string) {
	collection, err := p.app.FindCachedCollectionByNameOrId(collectionID)
	if err != nil {
		p.refuse(BypassUnknown)
		return
	}
	for _, index := range collection.Indexes {
		for _, column := range dbutils.ParseIndex(index).Columns {
			if collection.Fields.GetByName(column.Name) == nil {
				p.depend(collection)
				return
			}
			p.read(collection, column.Name)
		}
	}
}

// join depends on the membership of a collection that a path joins (the
// fields read are added by path), and, when joinRules (a non-superuser's
// filter or sort), on what its list rule reads. The records of a view
// collection are not tracked: any write matters.
func (p *planner) join(collection *core.Collection, joinRules bool) {
	if collection.IsView() {
		p.depend(collection)
	} else {
		p.read(collection, "")
	}
	if !joinRules || collection.ListRule == nil || *collection.ListRule == "" || slices.Contains(p.analyzing, collection.Id) {
		return
	}
	p.analyzing = append(p.analyzing, collection.Id)
	// PocketBase resolves the joined list rule with hidden fields on
	p.expression(collection, *collection.ListRule, false)
	p.analyzing = p.analyzing[:len(p.analyzing)-1]
}

// rule analyzes an API rule; superusers are not subject to rules, and
// PocketBase resolves rules with hidden fields on (no join rules).
func (p *planner) rule(collection *core.Collection, rule *string) {
	if rule != nil && !p.superuser {
		p.expression(collection, *rule, false)
	}
}

// ownerView: PocketBase shows an auth record's email to the record itself
// and to callers its manage rule allows.
func (p *planner) ownerView(collection *core.Collection) {
	p.plan.perCaller = true
	p.rule(collection, collection.ManageRule)
}

// expression analyzes a rule or filter with PocketBase's parser.
func (p *planner) expression(collection *core.Collection, text string, joinRules bool) {
	if strings.TrimSpace(text) == "" {
		return
	}
	groups, err := fexpr.Parse(text)
	if err != nil {
		p.refuse(BypassUnknown) // PocketBase refuses it too; nothing to keep
		return
	}
	p.groups(collection, groups, joinRules)
}

func (p *planner) groups(collection *core.Collection, groups []fexpr.ExprGroup, joinRules bool) {
	for _, group := range groups {
		switch item := group.Item.(type) {
		case fexpr.Expr:
			p.token(collection, item.Left, joinRules)
			p.token(collection, item.Right, joinRules)
		case fexpr.ExprGroup:
			p.groups(collection, []fexpr.ExprGroup{item}, joinRules)
		case []fexpr.ExprGroup:
			p.groups(collection, item, joinRules)
		default:
			p.refuse(BypassUnknown)
		}
	}
}

func (p *planner) token(collection *core.Collection, token fexpr.Token, joinRules bool) {
	switch token.Type {
	case fexpr.TokenText, fexpr.TokenNumber, fexpr.TokenComment:
	case fexpr.TokenIdentifier:
		p.identifier(collection, token.Literal, joinRules)
	case fexpr.TokenFunction:
		p.function(collection, token, joinRules)
	default:
		p.refuse(BypassUnknown)
	}
}

// identifier places a name of PocketBase's filter language and returns
// the field it ends on, when it ends on a collection's field.
func (p *planner) identifier(collection *core.Collection, name string, joinRules bool) core.Field {
	segments := strings.Split(name, ".")
	switch {
	case segments[0] == "@collection":
		if len(segments) < 3 {
			p.refuse(BypassUnknown)
			return nil
		}
		target, err := p.app.FindCachedCollectionByNameOrId(withoutModifier(segments[1]))
		if err != nil {
			p.refuse(BypassUnknown)
			return nil
		}
		p.joined = true
		p.join(target, joinRules)
		return p.path(target, segments[2:], joinRules, false)
	case name == "@request.method":
		return nil // always GET here
	case segments[0] == "@request" && len(segments) > 2 && segments[1] == "auth":
		p.plan.readsAuth = true
		field := withoutModifier(segments[2])
		if p.auth == nil || (len(segments) == 3 && slices.Contains([]string{"id", "collectionId", "collectionName"}, field)) {
			return nil // anonymous reads nulls; the key has the caller
		}
		// the caller's record: its writes matter
		p.depend(p.auth.Collection())
		return p.path(p.auth.Collection(), segments[2:], joinRules, false)
	case segments[0] == "@request":
		p.refuse(BypassRequestData)
	case slices.Contains(timeMacros, name):
		p.refuse(BypassClock)
	case strings.HasPrefix(name, "@"):
		p.refuse(BypassUnknown)
	default:
		// a view's own fields are the record's, which it depends on
		// anyway; a list's are read of every record of the collection
		own := p.view && collection.Id == p.main.Id
		return p.path(collection, segments, joinRules, own)
	}
	return nil
}

// path follows a field path as PocketBase's resolver does: relations and
// back-relations join collections; a JSON or geo point field ends it. The
// fields read are noted on their collections, but for the first when it is
// the viewed record's own.
func (p *planner) path(collection *core.Collection, segments []string, joinRules, own bool) core.Field {
	for i, segment := range segments {
		name, modifier, _ := strings.Cut(segment, ":")
		if !slices.Contains([]string{"", "each", "length", "lower"}, modifier) {
			p.refuse(BypassUnknown)
			return nil
		}
		if i > 0 || !own {
			p.read(collection, name)
		}
		if modifier == "each" {
			p.joined = true // PocketBase joins json_each
		}
		field := collection.Fields.GetByName(name)
		if i == len(segments)-1 {
			return field
		}
		if field != nil && (field.Type() == core.FieldTypeJSON || field.Type() == core.FieldTypeGeoPoint) {
			return nil // the rest is a path inside the value
		}
		next := p.step(collection, field, name)
		if next == nil {
			return nil // PocketBase refuses the path, or reads null
		}
		p.joined = true
		p.join(next, joinRules)
		collection = next
	}
	return nil
}

// step returns the collection that a relation field or a back-relation
// (name_via_field) leads to from collection, or nil.
func (p *planner) step(collection *core.Collection, field core.Field, name string) *core.Collection {
	if relation, ok := field.(*core.RelationField); ok {
		target, err := p.app.FindCachedCollectionByNameOrId(relation.CollectionId)
		if err != nil {
			return nil
		}
		return target
	}
	if field != nil {
		return nil
	}
	parts := backRelation.FindStringSubmatch(name)
	if len(parts) != 3 {
		return nil
	}
	return p.backRelation(collection, parts[1], parts[2])
}

// backRelation returns the collection whose relation field points back to
// collection, or nil.
func (p *planner) backRelation(collection *core.Collection, name, fieldName string) *core.Collection {
	back, err := p.app.FindCachedCollectionByNameOrId(name)
	if err != nil {
		return nil
	}
	if relation, ok := back.Fields.GetByName(fieldName).(*core.RelationField); !ok || relation.CollectionId != collection.Id {
		return nil
	}
	p.read(back, fieldName)
	return back
}

// function analyzes PocketBase's filter functions; any other bypasses.
func (p *planner) function(collection *core.Collection, token fexpr.Token, joinRules bool) {
	args, _ := token.Meta.([]fexpr.Token)
	switch token.Literal {
	case "geoDistance":
		for _, arg := range args {
			p.token(collection, arg, joinRules)
		}
	case "strftime":
		// SQLite's strftime reads the clock without a time value, or with
		// the time value 'now' (which a text field could hold)
		if len(args) < 2 {
			p.refuse(BypassClock)
			return
		}
		switch timeValue := args[1]; timeValue.Type {
		case fexpr.TokenNumber:
		case fexpr.TokenText:
			if strings.Contains(strings.ToLower(timeValue.Literal), "now") {
				p.refuse(BypassClock)
			}
		case fexpr.TokenIdentifier:
			field := p.identifier(collection, timeValue.Literal, joinRules)
			if field == nil || (field.Type() != core.FieldTypeDate && field.Type() != core.FieldTypeAutodate) {
				p.refuse(BypassClock)
			}
		default:
			p.refuse(BypassUnknown)
		}
		for _, arg := range args {
			if arg.Type != fexpr.TokenText && arg.Type != fexpr.TokenNumber && arg.Type != fexpr.TokenIdentifier {
				p.refuse(BypassUnknown)
			}
		}
	default:
		p.refuse(BypassUnknown)
	}
}

// sort analyzes PocketBase's sort parameter.
func (p *planner) sort(collection *core.Collection, sort string, joinRules bool) {
	if strings.TrimSpace(sort) == "" {
		return
	}
	for _, field := range search.ParseSortFromString(sort) {
		switch field.Name {
		case "@random":
			p.refuse(BypassRandom)
		case "@rowid":
		default:
			p.identifier(collection, field.Name, joinRules)
		}
	}
}

// expand follows the expand parameter as PocketBase normalizes it (commas,
// spaces dropped, dots trimmed, the legacy name(field) back-relation form);
// the view rule of each collection reached decides what the caller sees.
func (p *planner) expand(collection *core.Collection, expand string) {
	for _, path := range strings.Split(expand, ",") {
		path = strings.Trim(strings.ReplaceAll(path, " ", ""), ".")
		if path == "" {
			continue
		}
		current := collection
		for i, segment := range strings.Split(path, ".") {
			if i >= maxNestedRelations {
				break
			}
			next := p.expandStep(current, segment)
			if next == nil {
				break // PocketBase fails this expand
			}
			p.depend(next)
			p.rule(next, next.ViewRule)
			if next.IsAuth() {
				p.ownerView(next)
			}
			current = next
		}
	}
}

func (p *planner) expandStep(collection *core.Collection, segment string) *core.Collection {
	form := backRelation
	if strings.Contains(segment, "(") {
		form = legacyBackRelation
	}
	if parts := form.FindStringSubmatch(segment); len(parts) == 3 {
		return p.backRelation(collection, parts[1], parts[2])
	}
	return p.step(collection, collection.Fields.GetByName(segment), "")
}

func withoutModifier(segment string) string {
	name, _, _ := strings.Cut(segment, ":")
	return name
}
