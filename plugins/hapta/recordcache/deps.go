package recordcache

import (
	"regexp"
	"slices"
	"strings"

	"github.com/pocketbase/pocketbase/core"
)

// readPlan is what a cached read of PocketBase's record API depends on.
type readPlan struct {
	deps      Deps
	readsAuth bool   // the answer may differ per caller: key it by the caller
	volatile  string // why it must not be cached ("" when it may)
}

var (
	// stringLiteral is removed before scanning: names inside quotes are data.
	stringLiteral = regexp.MustCompile(`'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"`)
	identifier    = regexp.MustCompile(`@?[A-Za-z_][A-Za-z0-9_]*(?:[.:][A-Za-z0-9_@]+)*`)
	// timeMacro: answers that read the time cannot be kept
	timeMacro = regexp.MustCompile(`@(now|second|minute|hour|weekday|day|month|year|yesterday|tomorrow|todayStart|todayEnd|monthStart|monthEnd|yearStart|yearEnd)\b`)
)

// planRead analyzes a read of collection (one record when view, whose
// RecordRef the caller adds) with PocketBase's query parameters, by auth
// (nil: anonymous). It is conservative: a name it cannot place makes the
// answer depend on every write.
func planRead(app core.App, collection *core.Collection, view bool, filter, sort, expand string, auth *core.Record) readPlan {
	p := &planner{app: app, superuser: auth != nil && auth.IsSuperuser(), auth: auth}

	if collection.IsView() {
		p.plan.deps.AnyWrite = true // its sources are not tracked
	}
	if view {
		p.rule(collection, collection.ViewRule)
	} else {
		p.depend(collection)
		p.rule(collection, collection.ListRule)
		p.scan(collection, filter)
		p.scan(collection, sort)
	}
	if collection.IsAuth() {
		// the owner (or a manager) sees fields others do not, such as the email
		p.plan.readsAuth = true
		p.rule(collection, collection.ManageRule)
	}
	for _, path := range strings.Split(expand, ",") {
		p.expand(collection, strings.TrimSpace(path))
	}
	return p.plan
}

type planner struct {
	app       core.App
	superuser bool
	auth      *core.Record
	plan      readPlan
}

func (p *planner) depend(collection *core.Collection) {
	if !slices.Contains(p.plan.deps.Collections, collection.Id) {
		p.plan.deps.Collections = append(p.plan.deps.Collections, collection.Id)
	}
	if collection.IsView() {
		p.plan.deps.AnyWrite = true
	}
}

// rule scans an API rule; superusers are not subject to rules.
func (p *planner) rule(collection *core.Collection, rule *string) {
	if rule != nil && !p.superuser {
		p.scan(collection, *rule)
	}
}

// scan finds what a rule, filter or sort expression reads.
func (p *planner) scan(collection *core.Collection, expression string) {
	expression = stringLiteral.ReplaceAllString(expression, "''")
	if strings.Contains(expression, "@request.headers") || timeMacro.MatchString(expression) {
		p.plan.volatile = "reads the request headers or the time"
	}
	for _, name := range identifier.FindAllString(expression, -1) {
		p.identifier(collection, name)
	}
}

func (p *planner) identifier(collection *core.Collection, name string) {
	segments := strings.Split(name, ".")
	switch {
	case segments[0] == "@collection" && len(segments) > 1:
		target, err := p.app.FindCachedCollectionByNameOrId(stripModifier(segments[1]))
		if err != nil {
			p.plan.deps.AnyWrite = true
			return
		}
		p.depend(target)
		p.path(target, segments[2:])
	case segments[0] == "@request" && len(segments) > 1 && segments[1] == "auth":
		p.plan.readsAuth = true
		if len(segments) > 2 && !slices.Contains([]string{"id", "collectionId", "collectionName"}, stripModifier(segments[2])) && p.auth != nil {
			// a field of the caller's record: its writes matter
			p.depend(p.auth.Collection())
			p.path(p.auth.Collection(), segments[2:])
		}
	case strings.HasPrefix(segments[0], "@"):
		// @request.query, .body, .context and .method are covered by the key
	default:
		p.path(collection, segments)
	}
}

// path follows relation fields (and name_via_field back-relations) through
// a dotted field path, depending on every collection it reaches.
func (p *planner) path(collection *core.Collection, segments []string) {
	for _, segment := range segments {
		next, ok := p.follow(collection, segment)
		if !ok {
			return // a plain field: the path ends here
		}
		collection = next
	}
}

// expand follows an expand path; each expanded collection's view rule
// decides what the caller sees of it.
func (p *planner) expand(collection *core.Collection, path string) {
	if path == "" {
		return
	}
	for _, segment := range strings.Split(path, ".") {
		next, ok := p.follow(collection, segment)
		if !ok {
			return // PocketBase refuses such an expand
		}
		p.rule(next, next.ViewRule)
		if next.IsAuth() {
			// an expanded user's email shows to that user (or a manager) only
			p.plan.readsAuth = true
			p.rule(next, next.ManageRule)
		}
		collection = next
	}
}

// follow steps from collection through a relation field or a back-relation
// and depends on the collection reached; ok is false for any other name.
func (p *planner) follow(collection *core.Collection, segment string) (*core.Collection, bool) {
	name := stripModifier(segment)
	targetID := ""
	if field, isRelation := collection.Fields.GetByName(name).(*core.RelationField); isRelation {
		targetID = field.CollectionId
	} else if via, _, isBackRelation := strings.Cut(name, "_via_"); isBackRelation && via != "" {
		targetID = via
	} else {
		return nil, false
	}
	target, err := p.app.FindCachedCollectionByNameOrId(targetID)
	if err != nil {
		p.plan.deps.AnyWrite = true // a name that cannot be placed: depend on everything
		return nil, false
	}
	p.depend(target)
	return target, true
}

// stripModifier drops a :modifier (such as :each, :length, or an alias).
func stripModifier(segment string) string {
	name, _, _ := strings.Cut(segment, ":")
	return name
}
