package queue

import (
	"bytes"
	"reflect"
	"testing"
)

func TestParseRemovals(t *testing.T) {
	a, b := removal{"A", 1}, removal{"B-2_x", 0xfedcba9876543210}
	ra, rb := appendRemoval(nil, a), appendRemoval(nil, b)
	if string(ra) != "0000000000000001 A 7c9850ca\n" { // CRC-32C of "0000000000000001 A"
		t.Errorf("record of A: %q", ra)
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	flip := func(r []byte, i int) []byte {
		c := bytes.Clone(r)
		c[i] ^= 1
		return c
	}
	for _, c := range []struct {
		name    string
		in      []byte
		want    []removal
		damaged bool
		tail    int
	}{
		{"empty", nil, nil, false, 0},
		{"two", cat(ra, rb), []removal{a, b}, false, 0},
		{"torn last", cat(ra, rb[:10]), []removal{a}, false, 10},
		{"last without LF", cat(ra, rb[:len(rb)-1]), []removal{a}, false, len(rb) - 1},
		{"zeros after (size extended, data lost)", cat(ra, make([]byte, 40)), []removal{a}, false, 40},
		{"bad checksum last", cat(ra, flip(rb, 3)), []removal{a}, false, len(rb)},
		{"bad checksum first", cat(flip(ra, 17), rb), []removal{b}, true, 0},
		{"garbage line between", cat(ra, []byte("junk\n"), rb), []removal{a, b}, true, 0},
		{"upper-case hex", cat(bytes.ToUpper(rb)), nil, false, len(rb)},
		{"bad ID", []byte("0000000000000001 A.B 00000000\n"), nil, false, 30},
		{"segment 0", []byte("0000000000000000 A 00000000\n"), nil, false, 28},
	} {
		rs, damaged, tail := parseRemovals(c.in)
		if !reflect.DeepEqual(rs, c.want) || damaged != c.damaged || tail != c.tail {
			t.Errorf("%s: %v damaged=%v tail=%d, want %v %v %d", c.name, rs, damaged, tail, c.want, c.damaged, c.tail)
		}
	}
}

// FuzzParseRemovals: the parser never panics, returns only valid
// removals (an ID, a segment), each of which writes back to a record that
// parses to itself; good records written before any input are all read
// back whatever follows them (a torn or damaged tail never hides an
// earlier removal); and the parts it reports add up.
func FuzzParseRemovals(f *testing.F) {
	good := appendRemoval(appendRemoval(nil, removal{"A", 1}), removal{"0123456789ABCDEF0123", 0x187e3c1a2b3c4d5e})
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add(append([]byte("junk\n"), good...))
	f.Add([]byte("0000000000000001 A 00000000\n\n\n"))
	f.Add(bytes.Repeat([]byte("f"), maxRemovalLen*2))
	f.Fuzz(func(t *testing.T, in []byte) {
		rs, damaged, tail := parseRemovals(in)
		if tail < 0 || tail > len(in) {
			t.Fatalf("tail %d of %d bytes", tail, len(in))
		}
		if len(rs) == 0 && (damaged || tail != len(in)) {
			t.Fatalf("no record, damaged=%v tail=%d of %d", damaged, tail, len(in))
		}
		var re []byte
		for _, r := range rs {
			if !r.id.Valid() || r.seg == 0 {
				t.Fatalf("invalid removal %+v", r)
			}
			rec := appendRemoval(nil, r)
			if len(rec) > maxRemovalLen {
				t.Fatalf("record of %d bytes", len(rec))
			}
			if !bytes.Contains(in, rec) {
				t.Fatalf("removal %+v is not in the input as %q", r, rec)
			}
			re = append(re, rec...)
		}
		if got, d, tl := parseRemovals(re); !reflect.DeepEqual(got, rs) || d || tl != 0 {
			t.Fatalf("records written back read as %v damaged=%v tail=%d, want %v", got, d, tl, rs)
		}
		prefix := appendRemoval(nil, removal{"P", 7})
		got, _, _ := parseRemovals(append(bytes.Clone(prefix), in...))
		if len(got) == 0 || got[0] != (removal{"P", 7}) {
			t.Fatalf("a good first record is hidden by what follows: %v", got)
		}
	})
}
