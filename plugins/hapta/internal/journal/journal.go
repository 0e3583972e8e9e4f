// Package journal is an append-only log of records in a folder, written
// for many concurrent producers with one write per group: Append returns
// once its record is in the operating system's hands, so that a killed
// process loses none of the records whose Append returned (as SQLite's
// WAL with synchronous=NORMAL keeps its commits). Records carry a sequence
// number; Compact drops the segment files whose records were all used.
package journal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Record is one record of the journal.
type Record struct {
	Seq     uint64
	Payload []byte
}

// header: payload length, CRC-32 of the sequence number and the payload,
// sequence number
const headerSize = 4 + 4 + 8

// checksum covers the sequence number and the payload, so that zeroed or
// stale bytes do not read as a record.
func checksum(seq, payload []byte) uint32 {
	return crc32.Update(crc32.ChecksumIEEE(seq), crc32.IEEETable, payload)
}

// maxPayload bounds one record (a torn length must not allocate wildly).
const maxPayload = 16 << 20

// Journal is the log in one folder, as segment files named by the
// sequence number of their first record.
type Journal struct {
	dir         string
	segmentSize int64

	mu       sync.Mutex
	file     *os.File // the segment being written
	written  int64    // its size
	segments []uint64 // the first sequence numbers of the segments, in order
	nextSeq  uint64
	pending  *group // the records waiting for the next write
	flushing bool   // a producer is writing groups
	idle     *sync.Cond
	closed   bool
	broken   error // a failed write: records after it would follow a torn one
}

// group is the records written by one write.
type group struct {
	buf  []byte
	done chan struct{}
	err  error
}

// Open opens the journal in dir (created if missing) and returns the
// records after seq, in order. A record torn by a crash in the middle of a
// write ends the journal there (its Append never returned). New records
// get sequence numbers after both seq and the last record found.
func Open(dir string, after uint64, segmentSize int64) (*Journal, []Record, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	j := &Journal{dir: dir, segmentSize: segmentSize, nextSeq: after + 1}
	j.idle = sync.NewCond(&j.mu)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	for _, entry := range entries {
		first, ok := strings.CutSuffix(entry.Name(), ".log")
		if n, err := strconv.ParseUint(first, 10, 64); ok && err == nil {
			j.segments = append(j.segments, n)
		}
	}
	slices.Sort(j.segments)

	var records []Record
	for i, first := range j.segments {
		last := i == len(j.segments)-1
		found, end, err := readSegment(j.path(first))
		if err != nil {
			return nil, nil, err
		}
		for _, r := range found {
			j.nextSeq = max(j.nextSeq, r.Seq+1)
			if r.Seq > after {
				records = append(records, r)
			}
		}
		if last {
			if j.file, err = os.OpenFile(j.path(first), os.O_RDWR, 0o600); err != nil {
				return nil, nil, err
			}
			if err := j.file.Truncate(end); err != nil { // drop a torn tail
				return nil, nil, err
			}
			if _, err := j.file.Seek(end, io.SeekStart); err != nil {
				return nil, nil, err
			}
			j.written = end
		}
	}
	return j, records, nil
}

// readSegment reads a segment's whole records and where they end.
func readSegment(path string) ([]Record, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	reader := bufio.NewReader(f)
	var records []Record
	var end int64
	header := make([]byte, headerSize)
	for {
		if _, err := io.ReadFull(reader, header); err != nil {
			return records, end, nil // the end, or a torn header
		}
		size := binary.LittleEndian.Uint32(header[0:4])
		if size == 0 || size > maxPayload {
			return records, end, nil
		}
		payload := make([]byte, size)
		if _, err := io.ReadFull(reader, payload); err != nil {
			return records, end, nil
		}
		if checksum(header[8:16], payload) != binary.LittleEndian.Uint32(header[4:8]) {
			return records, end, nil
		}
		records = append(records, Record{Seq: binary.LittleEndian.Uint64(header[8:16]), Payload: payload})
		end += headerSize + int64(size)
	}
}

// ErrClosed is Append's error after Close.
var ErrClosed = errors.New("journal: closed")

// Append writes a record and returns its sequence number once it is
// written. Concurrent calls share one write.
func (j *Journal) Append(payload []byte) (uint64, error) {
	if len(payload) == 0 || len(payload) > maxPayload {
		return 0, fmt.Errorf("journal: a record of %d bytes is outside 1 to %d", len(payload), maxPayload)
	}
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return 0, ErrClosed
	}
	if j.broken != nil {
		j.mu.Unlock()
		return 0, j.broken
	}
	seq := j.nextSeq
	j.nextSeq++
	if j.pending == nil {
		j.pending = &group{done: make(chan struct{})}
	}
	g := j.pending
	header := make([]byte, headerSize)
	binary.LittleEndian.PutUint32(header[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint64(header[8:16], seq)
	binary.LittleEndian.PutUint32(header[4:8], checksum(header[8:16], payload))
	g.buf = append(append(g.buf, header...), payload...)
	lead := !j.flushing
	j.flushing = true
	j.mu.Unlock()

	if lead { // write the groups that gather until none is left
		for j.flushOne() {
		}
	}
	<-g.done
	return seq, g.err
}

// flushOne writes the pending group; false when there was none. After a
// failed write nothing more is written: the failed bytes are cut off, so
// that no record follows a torn one, and later groups fail too.
func (j *Journal) flushOne() bool {
	j.mu.Lock()
	g := j.pending
	j.pending = nil
	if g == nil {
		j.flushing = false
		j.idle.Broadcast()
		j.mu.Unlock()
		return false
	}
	err := j.broken
	if err == nil {
		err = j.rotate(binary.LittleEndian.Uint64(g.buf[8:16]))
	}
	file, offset := j.file, j.written
	j.mu.Unlock()

	if err == nil {
		if _, err = file.Write(g.buf); err != nil { // to the OS: a killed process keeps it
			_ = file.Truncate(offset)
			_, _ = file.Seek(offset, io.SeekStart)
		}
	}
	j.mu.Lock()
	if err == nil {
		j.written += int64(len(g.buf))
	} else if j.broken == nil {
		j.broken = fmt.Errorf("journal: a write failed, nothing more is written: %w", err)
	}
	j.mu.Unlock()
	g.err = err
	close(g.done)
	return true
}

// rotate opens a new segment starting at firstSeq when there is none yet or
// the current one is full. Called with mu held.
func (j *Journal) rotate(firstSeq uint64) error {
	if j.file != nil && j.written < j.segmentSize {
		return nil
	}
	file, err := os.OpenFile(j.path(firstSeq), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if j.file != nil {
		j.file.Close()
	}
	j.file, j.written = file, 0
	j.segments = append(j.segments, firstSeq)
	return nil
}

// Compact removes the segments whose records all have sequence numbers up
// to seq (the segment being written stays).
func (j *Journal) Compact(seq uint64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	for len(j.segments) > 1 && j.segments[1] <= seq+1 {
		if err := os.Remove(j.path(j.segments[0])); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		j.segments = j.segments[1:]
	}
	return nil
}

// Close refuses new records and closes the segment being written.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
	for j.flushing { // a producer is writing: let it finish
		j.idle.Wait()
	}
	if j.file == nil {
		return nil
	}
	return j.file.Close()
}

func (j *Journal) path(firstSeq uint64) string {
	return filepath.Join(j.dir, fmt.Sprintf("%020d.log", firstSeq))
}
