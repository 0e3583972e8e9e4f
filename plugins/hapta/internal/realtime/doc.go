// Package realtime delivers PocketBase's record events to realtime
// subscribers in place of PocketBase's own loop, which checks each
// subscriber's access with its own SQL query and encodes each message
// separately, on the writer's goroutine.
//
// Here subscribers are grouped by what their access depends on, and a group
// is checked with one query (the callers' ids bound as a JSON array) built
// by PocketBase's own rule resolver; a payload is encoded once per group of
// identical payloads. The work runs on one goroutine after the write's
// commit, against a read snapshot pinned at the commit, so the writer does
// not wait for it and every event is still judged on the data it committed.
// Each subscriber has a bounded queue: one that falls too far behind is
// disconnected rather than holding the others back.
//
// PocketBase binds its broadcasts without handler ids, so they cannot be
// unbound. Instead every realtime client is wrapped (Client): its record
// subscriptions are hidden from PocketBase's loop, which then finds nothing
// to send, while the subscriptions and the auth bookkeeping stay
// PocketBase's. The SSE stream of a wrapped client is served here
// (stream.go), with PocketBase's bytes, hooks and timeouts and less work
// per message than PocketBase's loop.
package realtime
