// Package testsupport holds helpers shared by the tests of several packages.
package testsupport

import (
	"bytes"
	"sync"
)

// SyncBuffer collects output written from several goroutines (a process's
// stdout and stderr, or a logger) while a test reads it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
