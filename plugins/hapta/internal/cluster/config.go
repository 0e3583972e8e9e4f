// Package cluster runs Hapta on several nodes: one primary (the SQLite
// writer) and edges that serve PocketBase's record reads from their own
// caches, kept coherent by the primary's counter bumps published on a NATS
// JetStream stream, and forward everything else to the primary.
package cluster

import (
	"net/url"
	"time"
)

// Role is a node's part in the cluster.
type Role string

const (
	RolePrimary Role = "primary"
	RoleEdge    Role = "edge"
)

// Config configures one node.
type Config struct {
	Role Role
	// Primary is the primary's URL (an edge's).
	Primary *url.URL
	// NATS are the NATS servers' URLs; Embedded starts one in process on
	// the primary instead, listening on EmbeddedListen with its JetStream
	// store in StoreDir.
	NATS           []string
	Embedded       bool
	EmbeddedListen string
	StoreDir       string
	// MaxLag is how long an edge may go without having caught up with the
	// primary's last heartbeat before it stops answering from its cache.
	MaxLag time.Duration
	// ReadWait is how long an edge waits for a sequence a reader asks for
	// (read-your-writes) before forwarding the read instead.
	ReadWait time.Duration
	// MaxBytes bounds an edge's cache, MaxTTL the life of its answers and
	// kept identities; Cached are the collections (lower-case names) whose
	// GET record endpoints an edge caches.
	MaxBytes uint64
	MaxTTL   time.Duration
	Cached   map[string]bool
}

// The stream and subjects the cluster uses on NATS.
const (
	streamName       = "HAPTA_CHANGES"
	changesSubject   = "hapta.changes"
	heartbeatSubject = "hapta.heartbeat"
	// heartbeatEvery is how often the primary says where its stream is
	heartbeatEvery = 200 * time.Millisecond
)

// Headers and cookie of the cluster's HTTP protocol.
const (
	// SeqHeader carries the stream sequence an answer of the primary was
	// computed at (for a write: at least the write's), and a reader's
	// read-your-writes sequence
	SeqHeader = "X-Hapta-Seq"
	// SeqCookie is SeqHeader for browsers, set by an edge on a write
	SeqCookie = "hapta_seq"
	// StreamHeader names the stream SeqHeader's sequence is of (its
	// creation time): a stream created again numbers from 1 again
	StreamHeader = "X-Hapta-Stream"
)
