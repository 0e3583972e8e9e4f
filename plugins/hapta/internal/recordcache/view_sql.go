package recordcache

import (
	"slices"
	"strings"
	"unicode"

	"github.com/pocketbase/pocketbase/core"
)

// clockWords are the SQLite functions (and the 'now' time value) whose
// result changes without a write: the time and date functions, random
// values, and the connection's change counters.
var clockWords = []string{
	"now", "date", "time", "datetime", "julianday", "unixepoch", "strftime", "timediff",
	"current_date", "current_time", "current_timestamp",
	"random", "randomblob", "changes", "total_changes", "last_insert_rowid",
}

// viewMayReadClock tells whether a view collection's SQL, or that of a view
// collection it names, may give another answer without any write. It fails
// closed: any of clockWords anywhere in the text (a column name, a string,
// a comment) counts, as proving otherwise would take an SQL parser.
func viewMayReadClock(app core.App, view *core.Collection, seen []string) bool {
	if slices.Contains(seen, view.Id) {
		return false
	}
	seen = append(seen, view.Id)
	words := strings.FieldsFunc(strings.ToLower(view.ViewQuery), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_'
	})
	for _, word := range words {
		if slices.Contains(clockWords, word) {
			return true
		}
		if named, err := app.FindCachedCollectionByNameOrId(word); err == nil && named.IsView() && viewMayReadClock(app, named, seen) {
			return true
		}
	}
	return false
}
