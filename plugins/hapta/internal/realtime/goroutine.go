package realtime

import (
	"bytes"
	"runtime"
	"strconv"
)

// goroutineID is the calling goroutine's number, from the first line of
// its stack trace ("goroutine 7 [running]:"); Go has no call for it. The
// broadcaster needs it for one thing: to tell a write that its worker
// makes (in an enrich hook) from the writes it must make wait.
func goroutineID() uint64 {
	var buf [64]byte
	fields := bytes.Fields(buf[:runtime.Stack(buf[:], false)])
	if len(fields) < 2 {
		return 0
	}
	id, _ := strconv.ParseUint(string(fields[1]), 10, 64)
	return id
}

// fromWorker tells whether the caller is the broadcaster's worker, which
// runs user code only in enrich hooks: without them it is not.
func (b *Broadcaster) fromWorker() bool {
	return b.app.OnRecordEnrich().Length() > 0 && goroutineID() == b.worker.Load()
}
