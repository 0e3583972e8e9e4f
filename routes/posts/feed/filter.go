package feed

import "strings"

// PocketBase's REST filter takes no bound parameters ({:name} placeholders
// with dbx.Params exist only in Go, in app.FindRecordsByFilter), so a value
// from the request is written into the filter as a string literal.

// quote returns s as a double-quoted string literal of PocketBase's filter
// language (github.com/ganigeorgiev/fexpr), which reads it back as exactly
// s: inside quotes only a backslash and the closing quote are special, so
// both are escaped with a backslash and every other character stays as it
// is. Quotes, "||", "&&", "//" and parentheses in s are then text.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// likeLiteral escapes the wildcards of s for PocketBase's "~" operator, so
// that it matches s as plain text: "~" reads a value with an unescaped "%"
// as a LIKE pattern of its own, and otherwise wraps it in "%...%" (contains)
// keeping escaped characters (LIKE ... ESCAPE '\').
func likeLiteral(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
