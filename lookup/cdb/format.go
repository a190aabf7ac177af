package cdb

import "errors"

// Layout constants of the djb cdb format.
const (
	headerSize = 256 * 8 // 256 × (table_pos, slot_count)
	recordHead = 8       // klen, dlen
	slotSize   = 8       // (hash, record_pos)

	// MaxSize is the largest database the format can describe: every
	// position is a 32-bit unsigned integer, so the whole file, hash tables
	// included, must end at or before byte 2^32-1.
	MaxSize = 1<<32 - 1
)

// ErrCorrupt is wrapped by every error that reports a malformed database:
// a truncated file, a pointer past the end, a record that overflows its
// region. Test for it with errors.Is.
var ErrCorrupt = errors.New("cdb: corrupt database")

// ErrTooLarge is wrapped by the error Writer.Add returns when a record would
// make the database exceed MaxSize.
var ErrTooLarge = errors.New("cdb: database would exceed the 4 GiB format limit")

// hash is the cdb hash function (Bernstein's "times 33 xor"):
// h = 5381; for each byte c: h = (h*33) ^ c, on uint32.
func hash[K string | []byte](key K) uint32 {
	h := uint32(5381)
	for i := 0; i < len(key); i++ {
		h = (h + h<<5) ^ uint32(key[i])
	}
	return h
}

// Hash returns the cdb hash of key. The low 8 bits select one of the 256
// hash tables; the remaining bits, modulo the table's slot count, give the
// first slot probed. Exposed for diagnostics and tests.
func Hash(key []byte) uint32 { return hash(key) }
