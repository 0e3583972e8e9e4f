package realtime

import (
	"strings"

	"github.com/pocketbase/pocketbase/core"
)

// topic is a record subscription as PocketBase reads it: `<c>/<id>` (the
// record's view), `<c>/*` or the deprecated `<c>` (the list), where <c> is
// a collection's name or id exactly as written, and any `?options=…`.
type topic struct {
	collection string // the name or id as written
	recordID   string // "" for the list
}

// parseTopic reads sub as a record subscription if it has the shape of
// one; ok is false for any other topic ("@oauth2", "a/b/c"). A custom topic
// of that shape ("chat", "room/42") is kept too: PocketBase would send it
// the record events of a collection of that name, even one created later.
// exists tells whether the collection exists now (the topic is then hidden
// from prefix lookups; other topics stay visible to custom broadcasts).
func parseTopic(app core.App, sub string) (t topic, exists, ok bool) {
	head, _, _ := strings.Cut(sub, "?")
	name, id, hasID := strings.Cut(head, "/")
	if name == "" || strings.HasPrefix(name, "@") || strings.Contains(id, "/") || (hasID && id == "") {
		return topic{}, false, false
	}
	collection, err := app.FindCachedCollectionByNameOrId(name)
	// PocketBase matches topics by prefix, case included
	exists = err == nil && (collection.Name == name || collection.Id == name)
	if id == "*" {
		id = ""
	}
	return topic{collection: name, recordID: id}, exists, true
}

// rule is the collection rule that guards t's events.
func (t topic) rule(collection *core.Collection) *string {
	if t.recordID == "" {
		return collection.ListRule
	}
	return collection.ViewRule
}
