package queue

import (
	"bytes"
	"hash/crc32"
	"strconv"
)

// A removal record says that message id of segment seg is removed. The
// removal log (spool_rmlog.go) is a sequence of them, one line each:
//
//	<seg: 16 hex digits> SP <id> SP <CRC-32C of the first two fields: 8 hex digits> LF
//
// A record is all or nothing: a line that does not parse or whose checksum
// does not match is not a removal. Ignoring a removal only brings a
// removed message back (delivered a second time), never loses one, so
// the parser may drop whatever it does not trust.
type removal struct {
	id  ID
	seg uint64
}

// maxRemovalLen is the length of the longest record: a 64-byte ID.
const maxRemovalLen = 16 + 1 + 64 + 1 + 8 + 1

// appendRemoval appends r's record to b.
func appendRemoval(b []byte, r removal) []byte {
	start := len(b)
	b = appendHex(b, r.seg, 16)
	b = append(b, ' ')
	b = append(b, r.id...)
	sum := crc32.Checksum(b[start:], castagnoli)
	b = append(b, ' ')
	b = appendHex(b, uint64(sum), 8)
	return append(b, '\n')
}

func appendHex(b []byte, v uint64, width int) []byte {
	var h [16]byte
	s := strconv.AppendUint(h[:0], v, 16)
	for range width - len(s) {
		b = append(b, '0')
	}
	return append(b, s...)
}

// parseRemovals reads a removal log. It returns the good records in
// order; damaged reports a bad line followed by a good record (damage
// inside the log, not an interrupted last append); tail is the number of
// bytes after the last good record (a torn or unfinished append when not
// zero).
func parseRemovals(b []byte) (rs []removal, damaged bool, tail int) {
	bad := false
	good := 0 // end of the last good record
	for off := 0; off < len(b); {
		n := bytes.IndexByte(b[off:], '\n')
		if n < 0 {
			break // no end of line: torn
		}
		line := b[off : off+n]
		off += n + 1
		r, ok := parseRemoval(line)
		if !ok {
			bad = true
			continue
		}
		if bad {
			damaged = true
		}
		bad = false
		rs = append(rs, r)
		good = off
	}
	return rs, damaged, len(b) - good
}

// parseRemoval parses one record without its LF.
func parseRemoval(line []byte) (removal, bool) {
	if len(line) > maxRemovalLen-1 || len(line) < 16+1+1+1+8 || line[16] != ' ' || line[len(line)-9] != ' ' {
		return removal{}, false
	}
	seg, ok := parseSeq(string(line[:16]))
	if !ok || !lowerHex(line[:16]) || !lowerHex(line[len(line)-8:]) {
		return removal{}, false
	}
	id := ID(line[17 : len(line)-9])
	if !id.Valid() {
		return removal{}, false
	}
	sum, err := strconv.ParseUint(string(line[len(line)-8:]), 16, 32)
	if err != nil || uint32(sum) != crc32.Checksum(line[:len(line)-9], castagnoli) {
		return removal{}, false
	}
	return removal{id: id, seg: seg}, true
}

// lowerHex reports whether b is only 0-9 and a-f (the form appendHex
// writes, so that a record has one spelling).
func lowerHex(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
