package cdb

import (
	"encoding/binary"
	"fmt"
	"io"
	"iter"
	"slices"
	"unsafe"

	"github.com/mxrelay/mxrelay/internal/regfile"
)

// Reader answers lookups in a cdb database held in memory.
//
// Values are returned as strings that share the Reader's buffer (no copy,
// no allocation). The buffer is never modified, and the garbage collector
// keeps it alive as long as any returned string is referenced, so a value
// stays valid after the Reader is dropped or the file is replaced. The
// flip side: one retained value keeps the whole buffer in memory. Clone
// values (strings.Clone) that outlive the table they came from by long.
//
// A Reader is immutable and safe for concurrent use.
type Reader struct {
	data   []byte     // the whole file; never written
	s      string     // the same bytes, as a string, for zero-copy results
	tables [256]table // the header, decoded and validated
	dend   uint64     // end of the record region: records lie in [headerSize, dend)
	n      int        // number of records
}

// table is one header entry: where a hash table starts and its slot count.
type table struct{ pos, n uint32 }

// NewReader returns a Reader over data, which must not be modified
// afterwards (the Reader's results point into it).
//
// It checks the structure at once, so that a truncated or corrupt file is
// an error here rather than at some later lookup: the header is complete,
// every hash table lies inside the file past the header, and the records
// exactly fill the region between the header and the first hash table. It
// does not check the hash tables' contents (see Verify); Find checks every
// offset it follows. Errors wrap ErrCorrupt.
func NewReader(data []byte) (*Reader, error) {
	size := uint64(len(data))
	if size < headerSize {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrCorrupt, size, headerSize)
	}
	if size > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, larger than the format's %d-byte limit", ErrCorrupt, size, uint64(MaxSize))
	}
	r := &Reader{data: data, s: unsafe.String(unsafe.SliceData(data), len(data)), dend: size}
	for b := range r.tables {
		t := table{
			pos: binary.LittleEndian.Uint32(data[b*8:]),
			n:   binary.LittleEndian.Uint32(data[b*8+4:]),
		}
		end := uint64(t.pos) + slotSize*uint64(t.n)
		if t.pos < headerSize || end > size {
			return nil, fmt.Errorf("%w: hash table %d at offset %d with %d slots does not lie within the %d-byte file",
				ErrCorrupt, b, t.pos, t.n, size)
		}
		r.tables[b] = t
		r.dend = min(r.dend, uint64(t.pos))
	}
	for off := uint64(headerSize); off < r.dend; r.n++ {
		_, _, next, err := r.record(off)
		if err != nil {
			return nil, err
		}
		off = next
	}
	return r, nil
}

// Open reads the database at path into memory and returns a Reader over it.
//
// The file is read with ordinary reads into Go heap memory, not mmap: the
// file can then be replaced or truncated under us without a SIGBUS, and
// values can be handed out as zero-copy strings that remain valid for as
// long as they are referenced. The cost is memory equal to the file size
// per open Reader (the buffer holds no pointers, so the garbage collector
// does not scan it).
func Open(path string) (*Reader, error) {
	f, err := regfile.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > MaxSize {
		return nil, fmt.Errorf("%s: %w: %d bytes, larger than the format's %d-byte limit", path, ErrCorrupt, fi.Size(), uint64(MaxSize))
	}
	// Read one byte more than stat said, to notice a file that grew.
	data := make([]byte, fi.Size()+1)
	n, err := io.ReadFull(f, data)
	if err != io.ErrUnexpectedEOF && err != io.EOF {
		if err == nil {
			err = fmt.Errorf("file grew while being read")
		}
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	r, err := NewReader(data[:n:n])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// record decodes the record at off, which must lie in the record region,
// and returns the offsets of its key, its value and the next record.
func (r *Reader) record(off uint64) (key, val, next uint64, err error) {
	key, val, next, ok := r.span(off)
	if !ok {
		return 0, 0, 0, r.badRecord(off)
	}
	return key, val, next, nil
}

// span is record's inlinable fast path: ok is false if the record at off
// does not lie wholly in the record region.
func (r *Reader) span(off uint64) (key, val, next uint64, ok bool) {
	if off < headerSize || off+recordHead > r.dend {
		return 0, 0, 0, false
	}
	key = off + recordHead
	val = key + uint64(binary.LittleEndian.Uint32(r.data[off:]))
	next = val + uint64(binary.LittleEndian.Uint32(r.data[off+4:]))
	return key, val, next, next <= r.dend
}

// badRecord describes why the record at off is out of bounds.
func (r *Reader) badRecord(off uint64) error {
	if off < headerSize || off+recordHead > r.dend {
		return fmt.Errorf("%w: record at offset %d is outside the record region [%d, %d)",
			ErrCorrupt, off, headerSize, r.dend)
	}
	return fmt.Errorf("%w: record at offset %d (key %d bytes, value %d bytes) runs past the end of the record region at %d",
		ErrCorrupt, off, binary.LittleEndian.Uint32(r.data[off:]), binary.LittleEndian.Uint32(r.data[off+4:]), r.dend)
}

// Find returns the value of the first record whose key is key, in the
// order djb's and tinycdb's readers find it (for a database built by Writer,
// `cdb -c` or postmap: the first one added). It does not allocate.
//
// found is false, with a nil error, when there is no such record. An error
// (wrapping ErrCorrupt) means the hash table pointed somewhere it should
// not; the file is corrupt.
func (r *Reader) Find(key string) (value string, found bool, err error) {
	return find(r, key)
}

// FindBytes is Find with a []byte key, so that a caller can build keys (say,
// key plus a NUL, as Postfix tries first) in a reusable buffer without
// allocating. The value is a string all the same: the buffer is immutable.
func (r *Reader) FindBytes(key []byte) (value string, found bool, err error) {
	return find(r, key)
}

func find[K string | []byte](r *Reader, key K) (string, bool, error) {
	h := hash(key)
	t := r.tables[h&255]
	if t.n == 0 {
		return "", false, nil
	}
	slot := (h >> 8) % t.n
	for range t.n {
		off := uint64(t.pos) + slotSize*uint64(slot) // in range: checked by NewReader
		rpos := binary.LittleEndian.Uint32(r.data[off+4:])
		if rpos == 0 {
			break
		}
		if binary.LittleEndian.Uint32(r.data[off:]) == h {
			k, v, end, ok := r.span(uint64(rpos))
			if !ok {
				return "", false, fmt.Errorf("hash table %d slot %d: %w", h&255, slot, r.badRecord(uint64(rpos)))
			}
			if v-k == uint64(len(key)) && r.s[k:v] == string(key) {
				return r.s[v:end], true, nil
			}
		}
		if slot++; slot == t.n {
			slot = 0
		}
	}
	return "", false, nil
}

// Len returns the number of records, duplicates included.
func (r *Reader) Len() int { return r.n }

// Size returns the size of the database in bytes.
func (r *Reader) Size() int64 { return int64(len(r.data)) }

// All yields every record, key then value, in file order (the order they
// were added), duplicates included. Like Find, it does not copy.
// (postmap -s cannot list a cdb table; this can.)
func (r *Reader) All() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for off := uint64(headerSize); off < r.dend; {
			k, v, next, _ := r.span(off) // cannot fail: checked by NewReader
			if !yield(r.s[k:v], r.s[v:next]) {
				return
			}
			off = next
		}
	}
}

// Verify checks the hash tables against the records, which NewReader does
// not (it costs a pass over every key): each non-empty slot must sit in the
// table its hash selects, point at the start of a record whose key has
// that hash, and be reachable by Find's probe sequence (no empty slot
// between the hash's first slot and it); and each record must be indexed
// by exactly one slot. A database that passes Verify answers Find with a
// record of the requested key for every key All lists, and never with an
// error. Errors wrap ErrCorrupt.
func (r *Reader) Verify() error {
	offs := make([]uint32, 0, r.n) // record starts, ascending
	hashes := make([]uint32, 0, r.n)
	for off := uint64(headerSize); off < r.dend; {
		k, v, next, _ := r.span(off)
		offs = append(offs, uint32(off))
		hashes = append(hashes, hash(r.s[k:v]))
		off = next
	}
	refs := make([]uint8, r.n)
	var empties []uint32 // empties[i]: empty slots before slot i
	for b, t := range r.tables {
		empties = slices.Grow(empties[:0], int(t.n)+1)[:t.n+1]
		for i := range t.n {
			e := empties[i]
			if binary.LittleEndian.Uint32(r.data[uint64(t.pos)+slotSize*uint64(i)+4:]) == 0 {
				e++
			}
			empties[i+1] = e
		}
		for i := range t.n {
			off := uint64(t.pos) + slotSize*uint64(i)
			h := binary.LittleEndian.Uint32(r.data[off:])
			rpos := binary.LittleEndian.Uint32(r.data[off+4:])
			if rpos == 0 {
				continue
			}
			bad := func(format string, args ...any) error {
				return fmt.Errorf("%w: hash table %d slot %d (hash %08x, record %d): "+format,
					append([]any{ErrCorrupt, b, i, h, rpos}, args...)...)
			}
			if int(h&255) != b {
				return bad("hash belongs to table %d", h&255)
			}
			idx, ok := slices.BinarySearch(offs, rpos)
			if !ok {
				return bad("not the start of a record")
			}
			if hashes[idx] != h {
				return bad("the record's key hashes to %08x", hashes[idx])
			}
			home := (h >> 8) % t.n
			gaps := empties[i] - empties[home]
			if home > i {
				gaps = empties[t.n] - empties[home] + empties[i]
			}
			if gaps != 0 {
				return bad("unreachable: an empty slot lies between slot %d, where the search starts, and it", home)
			}
			if refs[idx]++; refs[idx] > 1 {
				return bad("record indexed twice")
			}
		}
	}
	for idx, n := range refs {
		if n == 0 {
			return fmt.Errorf("%w: record at offset %d is not in any hash table", ErrCorrupt, offs[idx])
		}
	}
	return nil
}
