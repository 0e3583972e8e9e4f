package journal

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestRecordsSurviveAReopenInOrder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	j, records, err := Open(dir, 0, 256) // small segments: several files
	if err != nil || len(records) != 0 {
		t.Fatal(records, err)
	}
	var wg sync.WaitGroup
	for p := range 8 {
		wg.Go(func() {
			for i := range 50 {
				if _, err := j.Append(fmt.Appendf(nil, "p%d-%d", p, i)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	j.Close()
	if _, err := j.Append([]byte("late")); err != ErrClosed {
		t.Fatalf("Append after Close: %v", err)
	}

	_, records, err = Open(dir, 0, 256)
	if err != nil || len(records) != 400 {
		t.Fatalf("%d records, %v", len(records), err)
	}
	seen := map[string]bool{}
	for i, r := range records {
		if r.Seq != uint64(i+1) || seen[string(r.Payload)] {
			t.Fatalf("record %d: seq %d %q", i, r.Seq, r.Payload)
		}
		seen[string(r.Payload)] = true
	}
	_, after, _ := Open(dir, 390, 256)
	if len(after) != 10 || after[0].Seq != 391 {
		t.Fatalf("records after 390: %d from %d", len(after), after[0].Seq)
	}
}

// A record torn by a crash in the middle of a write ends the journal; new
// records go after the last whole one.
func TestATornTailIsDropped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	j, _, _ := Open(dir, 0, 1<<20)
	for i := range 3 {
		j.Append(fmt.Appendf(nil, "record %d", i))
	}
	j.Close()
	segment := filepath.Join(dir, fmt.Sprintf("%020d.log", 1))
	info, _ := os.Stat(segment)
	if err := os.Truncate(segment, info.Size()-3); err != nil { // the third record torn
		t.Fatal(err)
	}
	j, records, err := Open(dir, 0, 1<<20)
	if err != nil || len(records) != 2 {
		t.Fatalf("%d records, %v", len(records), err)
	}
	seq, err := j.Append([]byte("after the crash"))
	j.Close()
	_, records, _ = Open(dir, 0, 1<<20)
	if err != nil || seq != 3 || len(records) != 3 || string(records[2].Payload) != "after the crash" {
		t.Fatalf("seq %d, %d records: %v", seq, len(records), err)
	}
}

func TestCompactDropsOnlyUsedSegments(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	j, _, _ := Open(dir, 0, 64)
	for i := range 20 {
		j.Append(fmt.Appendf(nil, "record number %02d", i))
	}
	files := func() int { entries, _ := os.ReadDir(dir); return len(entries) }
	before := files()
	if err := j.Compact(10); err != nil {
		t.Fatal(err)
	}
	j.Close()
	_, records, _ := Open(dir, 10, 64)
	if files() >= before || len(records) != 10 || records[0].Seq != 11 {
		t.Fatalf("files %d -> %d, %d records after 10", before, files(), len(records))
	}
}

// A write that fails (here into a FIFO whose reader goes away) stops the
// journal: the group gathered meanwhile is refused too, not written after
// the failed bytes, and a reopen finds only what was acknowledged.
func TestAFailedWriteStopsTheJournal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	j, _, err := Open(dir, 0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append([]byte("p1")); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	reader, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	writer, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	j.mu.Lock()
	j.file, j.written, j.segmentSize = writer, 0, 1 // this write blocks, then fails; the next group rotates
	j.mu.Unlock()

	errA := make(chan error, 1)
	go func() { _, err := j.Append(bytes.Repeat([]byte("a"), 256<<10)); errA <- err }() // seq 2: blocks in write
	time.Sleep(200 * time.Millisecond)
	type result struct {
		seq uint64
		err error
	}
	resB := make(chan result, 1)
	go func() { seq, err := j.Append([]byte("p3")); resB <- result{seq, err} }() // seq 3: gathered meanwhile
	time.Sleep(200 * time.Millisecond)
	reader.Close() // the write of seq 2 fails (EPIPE)

	a := <-errA
	b := <-resB
	if a == nil || b.err == nil {
		t.Fatalf("Append seq 2: %v; Append seq %d: %v; want both refused", a, b.seq, b.err)
	}
	j.Close()
	_, records, err := Open(dir, 0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for _, r := range records {
		seqs = append(seqs, r.Seq)
	}
	if len(seqs) != 1 || seqs[0] != 1 {
		t.Fatalf("the reopened journal holds %v, want only the acknowledged 1", seqs)
	}
}
