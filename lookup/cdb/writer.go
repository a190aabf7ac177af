package cdb

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// errClosed is returned by Add after Close.
var errClosed = errors.New("cdb: Add after Close")

// Writer builds a cdb database, byte for byte as tinycdb's cdb_make (and so
// `cdb -c` and Postfix's `postmap cdb:`) would for the same records added in
// the same order.
//
// The database starts at offset 0 of the underlying io.WriteSeeker, which
// should be an empty, freshly truncated file: Close seeks back to offset 0 to
// write the header. Writer does not close the underlying writer.
//
// Records are stored in the order they are added and are never
// de-duplicated: adding a key twice stores two records (as `cdb -c` does
// without -u/-r/-e), and a Reader returns the first. Callers that want
// Postfix semantics (first or last duplicate wins, with a warning) filter
// duplicates before calling Add.
//
// A Writer is not safe for concurrent use.
type Writer struct {
	w    io.WriteSeeker
	bw   *bufio.Writer
	pos  uint64  // offset of the next record; 0 until the header is reserved
	ents []entry // one per record, in insertion order
	err  error   // sticky I/O error
	done bool
	max  uint64 // size limit, MaxSize (lowered by tests)
	head [recordHead]byte
}

// entry is a record's hash and position, the contents of its hash slot.
type entry struct{ hash, pos uint32 }

// NewWriter returns a Writer that writes a database to w.
func NewWriter(w io.WriteSeeker) *Writer {
	return &Writer{w: w, bw: bufio.NewWriterSize(w, 64<<10), max: MaxSize}
}

// reserve writes the space for the header the first time it is needed.
func (w *Writer) reserve() error {
	if w.pos != 0 || w.err != nil {
		return w.err
	}
	var zero [headerSize]byte
	if _, err := w.bw.Write(zero[:]); err != nil {
		w.err = fmt.Errorf("cdb: write: %w", err)
		return w.err
	}
	w.pos = headerSize
	return nil
}

// Add appends the record key → value. Keys and values may hold any bytes,
// including NUL, and may be empty.
//
// A record that would push the finished database (records plus hash
// tables) past MaxSize is rejected with an error wrapping ErrTooLarge and
// is not written; the Writer stays usable. After an I/O error every further
// call returns that error.
func (w *Writer) Add(key, value []byte) error {
	if w.done {
		return errClosed
	}
	if err := w.reserve(); err != nil {
		return err
	}
	n := uint64(len(w.ents)) + 1
	end := w.pos + recordHead + uint64(len(key)) + uint64(len(value))
	if total := end + 2*slotSize*n; total > w.max {
		return fmt.Errorf("%w: record %d (key %d bytes, value %d bytes) would make the file %d bytes, limit %d",
			ErrTooLarge, n, len(key), len(value), total, w.max)
	}
	binary.LittleEndian.PutUint32(w.head[0:], uint32(len(key)))
	binary.LittleEndian.PutUint32(w.head[4:], uint32(len(value)))
	if err := w.write(w.head[:], key, value); err != nil {
		return err
	}
	w.ents = append(w.ents, entry{hash: hash(key), pos: uint32(w.pos)})
	w.pos = end
	return nil
}

// write writes each of bufs through the buffer, recording the first error.
func (w *Writer) write(bufs ...[]byte) error {
	for _, b := range bufs {
		if _, err := w.bw.Write(b); err != nil {
			w.err = fmt.Errorf("cdb: write: %w", err)
			return w.err
		}
	}
	return nil
}

// Close writes the 256 hash tables and the header, completing the database.
// It does not close the underlying writer. Calling Close again returns the
// first call's result.
func (w *Writer) Close() error {
	if w.done {
		return w.err
	}
	w.done = true
	if err := w.reserve(); err != nil {
		return err
	}

	// Counting sort of the entries into buckets (low 8 bits of the hash),
	// stable so that each bucket keeps insertion order, as tinycdb does.
	var count, next [256]uint32
	for _, e := range w.ents {
		count[e.hash&255]++
	}
	var maxSlots uint32
	for b, c := range count {
		if b > 0 {
			next[b] = next[b-1] + count[b-1]
		}
		maxSlots = max(maxSlots, 2*c)
	}
	sorted := make([]entry, len(w.ents))
	for _, e := range w.ents {
		b := e.hash & 255
		sorted[next[b]] = e
		next[b]++
	}
	w.ents = nil

	// Each bucket's table has twice as many slots as records. A record goes
	// to slot (hash>>8) % slots, or the next free one, wrapping around.
	slots := make([]entry, maxSlots)
	buf := make([]byte, slotSize*maxSlots)
	var header [headerSize]byte
	var first uint32 // index in sorted of the bucket's first entry
	for b := range 256 {
		n := 2 * count[b]
		binary.LittleEndian.PutUint32(header[b*8:], uint32(w.pos))
		binary.LittleEndian.PutUint32(header[b*8+4:], n)
		if n == 0 {
			continue
		}
		clear(slots[:n])
		for _, e := range sorted[first : first+count[b]] {
			i := (e.hash >> 8) % n
			for slots[i].pos != 0 {
				if i++; i == n {
					i = 0
				}
			}
			slots[i] = e
		}
		first += count[b]
		for i, e := range slots[:n] {
			binary.LittleEndian.PutUint32(buf[i*8:], e.hash)
			binary.LittleEndian.PutUint32(buf[i*8+4:], e.pos)
		}
		if err := w.write(buf[:slotSize*n]); err != nil {
			return err
		}
		w.pos += uint64(slotSize * n)
	}
	if err := w.bw.Flush(); err != nil {
		w.err = fmt.Errorf("cdb: write: %w", err)
		return w.err
	}
	if _, err := w.w.Seek(0, io.SeekStart); err != nil {
		w.err = fmt.Errorf("cdb: seek to header: %w", err)
		return w.err
	}
	if _, err := w.w.Write(header[:]); err != nil {
		w.err = fmt.Errorf("cdb: write header: %w", err)
		return w.err
	}
	return nil
}
