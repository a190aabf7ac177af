// Package cdb reads and writes constant databases in D. J. Bernstein's cdb
// format, byte for byte as tinycdb (`cdb -c`) and Postfix (`postmap cdb:`,
// which uses tinycdb's cdb_make) write them.
//
// This package is the file format only. Postfix semantics — lower-casing
// keys, trying "key\x00" before "key" and remembering which form matched,
// refusing empty values, suppressing duplicates with a warning, reloading a
// replaced file — belong to the cdb: table in package lookup, built on top
// of this one.
//
// Write a file atomically, then read it:
//
//	err := cdb.WriteFile("/etc/postfix/transport.cdb", 0o644, func(add func(key, value []byte) error) error {
//		return add([]byte("example.com"), []byte("relay:[mx1.example.com]"))
//	})
//	if err != nil { ... }
//	r, err := cdb.Open("/etc/postfix/transport.cdb")
//	if err != nil { ... }        // unreadable, or corrupt (errors.Is(err, cdb.ErrCorrupt))
//	v, found, err := r.Find("example.com") // "relay:[mx1.example.com]", true, nil
//	for k, v := range r.All() { ... }      // every record, in file order
//
// Keys are bytes as given: for Postfix's lower-casing and "key\x00"
// forms, use lookup.Compile and lookup's cdb: table instead.
//
// # Format
//
// All integers are little-endian uint32, so a database is at most
// MaxSize (4 GiB - 1) bytes.
//
//  1. A 2048-byte header: 256 × (table_pos, slot_count).
//  2. From offset 2048, the records in the order they were added:
//     klen, dlen, key bytes, data bytes. Keys and values are arbitrary
//     bytes (NUL included) and may be empty.
//  3. The 256 hash tables, in order 0..255. Table b holds the records whose
//     hash has low byte b, in twice as many slots as records; a slot is
//     (hash, record_pos), an empty one (0, 0). A table with no records has
//     slot_count 0 and table_pos equal to where the next table starts.
//
// The hash is h = 5381; for each byte c: h = (h << 5 + h) ^ c. A lookup
// reads the header entry h & 255, then probes slots from (h >> 8) %
// slot_count, wrapping around, comparing the hash and then the key, and
// stops at an empty slot. A writer inserts each bucket's records in the
// order they were added, each in the first free slot of its probe
// sequence, so Find returns the first of several records with one key.
//
// # Worked example
//
// postmap cdb: on the source
//
//	Foo@Example.COM  Value1
//	b  2
//	b 3
//	example.com  OK
//
// stores three records (postmap folds the key and drops the duplicate "b"),
// a 2156-byte file: the records at 2048 (foo@example.com→Value1), 2077
// (b→2) and 2087 (example.com→OK) end at 2108, where the hash tables
// start. Hash("foo@example.com") = 0xe8730b04: bucket 0x04, whose header
// entry is (2108, 2); (0xe8730b04 >> 8) % 2 = 1, so slot 1 of that table
// (offset 2116) holds (0xe8730b04, 2048) and slot 0 is empty. Bucket 0 has
// no records: its header entry is (2108, 0). The same three records given
// to Writer, or to `cdb -c`, produce the same 2156 bytes.
//
// # Compatibility
//
//   - Writer output is identical to tinycdb's `cdb -c` (no -u/-r/-e/-0) and
//     to `postmap cdb:` for the same records in the same order; tested
//     against files both tools made (testdata/gen.sh) and, when the tools
//     are installed, against live runs. djb's cdbmake writes the same
//     layout too.
//   - Duplicates: Writer keeps them all, as `cdb -c` does; postmap never
//     writes any (it keeps the first, or the last with -r), so a caller
//     that wants postmap's output must drop them before Add.
//   - Reader reads any of these files, including records with empty keys or
//     values and keys that end in NUL (postmap -N).
//   - Beyond postmap: All lists a cdb table (`postmap -s` cannot).
//
// # Safety
//
// NewReader and Open check the header and the record framing, so a
// truncated or corrupt file fails at open. Find bounds-checks every offset
// it follows and reports a bad one as an error wrapping ErrCorrupt; it
// never panics or reads outside the file. Verify additionally checks every
// hash slot against the records.
//
// Open reads the file into memory instead of mapping it, so that Find can
// return values as strings without copying or allocating while staying
// safe when the file is replaced; see Reader for the trade-off.
package cdb
