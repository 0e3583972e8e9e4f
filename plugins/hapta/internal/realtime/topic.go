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

// parseTopic reads sub as a record subscription; ok is false for any other
// topic (custom topics, "@oauth2", a collection that does not exist yet).
// A subscription to a collection created later stays PocketBase's to
// serve, as it was when subscribed.
func parseTopic(app core.App, sub string) (topic, bool) {
	head, _, _ := strings.Cut(sub, "?")
	name, id, hasID := strings.Cut(head, "/")
	if name == "" || strings.Contains(id, "/") || (hasID && id == "") {
		return topic{}, false
	}
	collection, err := app.FindCachedCollectionByNameOrId(name)
	// PocketBase matches topics by prefix, case included
	if err != nil || (collection.Name != name && collection.Id != name) {
		return topic{}, false
	}
	if id == "*" {
		id = ""
	}
	return topic{collection: name, recordID: id}, true
}

// rule is the collection rule that guards t's events.
func (t topic) rule(collection *core.Collection) *string {
	if t.recordID == "" {
		return collection.ListRule
	}
	return collection.ViewRule
}
