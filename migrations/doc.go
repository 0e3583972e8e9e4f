// Package migrations holds the Go migrations of the Hapta distribution.
//
// `./pocketbase migrate create <name>` adds a file here, and running from
// source (`go run . serve`) writes one for each collection change made in
// the admin UI. They run when the server starts.
package migrations
