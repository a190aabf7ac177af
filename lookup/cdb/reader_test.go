package cdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"
)

// collect returns All's records.
func collect(r *Reader) []record {
	var recs []record
	for k, v := range r.All() {
		recs = append(recs, record{k, v})
	}
	return recs
}

// within reports whether s points into data (or is empty).
func within(s string, data []byte) bool {
	if len(s) == 0 {
		return true
	}
	p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
	start := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	return p >= start && p+uintptr(len(s)) <= start+uintptr(len(data))
}

// TestReaderGolden reads every committed fixture (made by `cdb -c` or
// postmap): All lists exactly the records `cdb -d` printed, in file order;
// Find returns each key's first value; Verify accepts the file.
func TestReaderGolden(t *testing.T) {
	for _, name := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			data, recs := loadFixture(t, name)
			r, err := Open(filepath.Join("testdata", name+".cdb"))
			if err != nil {
				t.Fatal(err)
			}
			if got := formatNative(collect(r)); !bytes.Equal(got, formatNative(recs)) {
				t.Errorf("All:\n%q\nwant (cdb -d):\n%q", got, formatNative(recs))
			}
			if r.Len() != len(recs) {
				t.Errorf("Len = %d, want %d", r.Len(), len(recs))
			}
			if r.Size() != int64(len(data)) {
				t.Errorf("Size = %d, want %d", r.Size(), len(data))
			}
			for k, want := range firstValues(recs) {
				v, ok, err := r.Find(k)
				if v != want || !ok || err != nil {
					t.Errorf("Find(%q) = %q, %v, %v; want %q", k, v, ok, err, want)
				}
				if v, ok, _ := r.FindBytes([]byte(k)); v != want || !ok {
					t.Errorf("FindBytes(%q) = %q, %v; want %q", k, v, ok, want)
				}
				if _, ok, err := r.Find(k + "\x01"); ok || err != nil {
					t.Errorf("Find(%q) = %v, %v; want a miss", k+"\x01", ok, err)
				}
			}
			if err := r.Verify(); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
}

// TestReaderFind pins lookups users rely on, on files the real tools made.
func TestReaderFind(t *testing.T) {
	for _, tc := range []struct {
		file, key string
		value     string
		found     bool
	}{
		{"c", "foo@example.com", "Value1", true},
		{"c", "b", "2", true}, // postmap kept the first "b"
		{"c", "example.com", "OK", true},
		{"c", "Foo@Example.COM", "", false}, // the format is case-sensitive; lookup folds
		{"c", "foo@example.co", "", false},
		{"c", "", "", false},
		{"empty", "", "", false},
		{"empty", "key", "", false},
		{"pmempty", "key", "", false},
		{"one", "key", "value", true},
		{"one", "ke", "", false},
		{"dups", "a", "first", true}, // the first of three records
		{"dups", "c", "", true},      // an empty value is found; lookup rejects it (ErrEmptyValue)
		{"nul", "k1\x00", "v1\x00", true},
		{"nul", "k1", "", false}, // postmap -N: only the NUL form is stored
		{"nul", "user@example.com\x00", "relay:[mx.example.net]\x00", true},
		{"mixed", "k1\x00", "v1\x00", true},
		{"mixed", "k1", "XX", true},
		{"mixed", "k2", "v2", true},
		{"binary", "", "empty key", true},
		{"binary", "a\nb\nc", "x\ny\nz", true},
		{"binary", "->->", ":,+-", true},
		{"binary", "nov", "", true},
		{"binary", "\xff\xfe", "\x80\x81", true},
		{"unicode", "kéy", "value-é", true},
		{"unicode", "KÉY", "", false},
		{"unicode", "über@bücher.example", "OK", true},
		{"unicode", "日本.example", "relay:[mx.日本.example]", true},
		{"unicode", "σίσυφοσ@example.com", "greek", true}, // postmap folds final sigma to σ
		{"many", "user0@example.com", "relay:[mx0.example.net]", true},
		{"many", "user2999@example.com", "relay:[mx89.example.net]", true},
		{"many", "user3000@example.com", "", false},
	} {
		r, err := Open(filepath.Join("testdata", tc.file+".cdb"))
		if err != nil {
			t.Fatal(err)
		}
		v, ok, err := r.Find(tc.key)
		if v != tc.value || ok != tc.found || err != nil {
			t.Errorf("%s: Find(%q) = %q, %v, %v; want %q, %v", tc.file, tc.key, v, ok, err, tc.value, tc.found)
		}
	}
}

// TestFindZeroCopy: a hit returns a string inside the file's buffer, with
// no allocation, and the value stays intact after the Reader is dropped.
func TestFindZeroCopy(t *testing.T) {
	data, _ := loadFixture(t, "many")
	r, err := NewReader(data)
	if err != nil {
		t.Fatal(err)
	}
	v, ok, err := r.Find("user42@example.com")
	if !ok || err != nil || !within(v, data) {
		t.Fatalf("Find = %q, %v, %v; want a value inside the buffer", v, ok, err)
	}
	key := []byte("user42@example.com\x00")
	allocs := testing.AllocsPerRun(100, func() {
		r.Find("user42@example.com")
		r.Find("nobody@example.com")
		r.FindBytes(key[:len(key)-1])
	})
	if allocs != 0 {
		t.Errorf("Find allocates %.1f times per run, want 0", allocs)
	}
	r = nil
	if v != "relay:[mx42.example.net]" {
		t.Errorf("value changed to %q", v)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "missing.cdb")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
	empty := filepath.Join(dir, "empty.cdb")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(empty); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), empty) {
		t.Errorf("empty file: %v, want ErrCorrupt naming the file", err)
	}
	if _, err := Open(dir); err == nil {
		t.Errorf("opening a directory succeeded")
	}
}

// corrupt returns a copy of data with the little-endian uint32 at off set.
func corrupt(data []byte, edits ...[2]uint32) []byte {
	c := bytes.Clone(data)
	for _, e := range edits {
		binary.LittleEndian.PutUint32(c[e[0]:], e[1])
	}
	return c
}

// TestReaderCorrupt: every kind of damage is an error wrapping ErrCorrupt,
// at open when the structure is wrong, at Find (and Verify) when a hash
// slot points somewhere wrong; never a panic, never a value from outside.
func TestReaderCorrupt(t *testing.T) {
	// c.cdb: records at 2048, 2077, 2087; tables from 2108; bucket 4 =
	// (2108, 2) with foo@example.com in slot 1 (2116: hash, 2120: pos).
	good, _ := loadFixture(t, "c")
	const foo = "foo@example.com"
	size := uint32(len(good))
	atOpen := []struct {
		name string
		data []byte
	}{
		{"empty file", nil},
		{"truncated header", good[:100]},
		{"header only, one byte short", good[:headerSize-1]},
		{"truncated file (last table cut)", good[:len(good)-1]},
		{"truncated records", good[:2090]},
		{"table pointer past EOF", corrupt(good, [2]uint32{4 * 8, size + 8})},
		{"table runs past EOF", corrupt(good, [2]uint32{4*8 + 4, 7})},
		{"slot count overflows", corrupt(good, [2]uint32{4 * 8, 0xfffffff0}, [2]uint32{4*8 + 4, 0xffffffff})},
		{"table inside the header", corrupt(good, [2]uint32{9 * 8, 100}, [2]uint32{9*8 + 4, 1})},
		{"empty table pointing past EOF", corrupt(good, [2]uint32{0, size + 1})},
		{"key length past EOF", corrupt(good, [2]uint32{2048, 0xffffff00})},
		{"value length past the records", corrupt(good, [2]uint32{2052, 61})},
		{"value length overflows", corrupt(good, [2]uint32{2048, 0xffffffff}, [2]uint32{2052, 0xffffffff})},
		{"records do not end where the tables start", corrupt(good, [2]uint32{2052, 5})},
		{"record header cut by the tables", func() []byte {
			// Tables claimed to start 4 bytes into the last record.
			c := bytes.Clone(good)
			for b := range 256 {
				p := binary.LittleEndian.Uint32(c[b*8:])
				if p == 2108 {
					binary.LittleEndian.PutUint32(c[b*8:], 2091)
				}
			}
			return c
		}()},
	}
	for _, tc := range atOpen {
		if _, err := NewReader(tc.data); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: NewReader = %v, want ErrCorrupt", tc.name, err)
		}
	}

	atFind := []struct {
		name string
		data []byte
	}{
		{"slot points past EOF", corrupt(good, [2]uint32{2120, size + 100})},
		{"slot points near 4 GiB", corrupt(good, [2]uint32{2120, 0xfffffffc})},
		{"slot points into the header", corrupt(good, [2]uint32{2120, 8})},
		{"slot points into the hash tables", corrupt(good, [2]uint32{2120, 2110})},
		{"slot points at the last bytes of the records", corrupt(good, [2]uint32{2120, 2104})},
	}
	for _, tc := range atFind {
		r, err := NewReader(tc.data)
		if err != nil {
			t.Errorf("%s: NewReader = %v, want the damage found at lookup", tc.name, err)
			continue
		}
		if v, ok, err := r.Find(foo); !errors.Is(err, ErrCorrupt) || ok || v != "" {
			t.Errorf("%s: Find = %q, %v, %v; want ErrCorrupt", tc.name, v, ok, err)
		}
		if err := r.Verify(); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Verify = %v, want ErrCorrupt", tc.name, err)
		}
	}

	// Damage only Verify sees: Find answers, wrongly or not at all.
	onlyVerify := []struct {
		name string
		data []byte
	}{
		{"slot points mid-record", corrupt(good, [2]uint32{2120, 2049})},
		{"slot hash differs from the key's", corrupt(good, [2]uint32{2116, 0xe8730a04})},
		{"record not indexed", corrupt(good, [2]uint32{2120, 0}, [2]uint32{2116, 0})},
		{"record indexed twice", corrupt(good, [2]uint32{2108, 0xe8730b04}, [2]uint32{2112, 2048})},
		{"slot in the wrong table", corrupt(good, [2]uint32{2116, 0xe8730b05})},
		{"unreachable slot", func() []byte {
			// Make bucket 4's table 2 slots at 2108 start one slot later:
			// the record moves to slot 0, its probe starts at the now
			// empty slot 1.
			c := corrupt(good, [2]uint32{2108, 0xe8730b04}, [2]uint32{2112, 2048}, [2]uint32{2116, 0}, [2]uint32{2120, 0})
			return c
		}()},
	}
	for _, tc := range onlyVerify {
		r, err := NewReader(tc.data)
		if err != nil {
			t.Errorf("%s: NewReader = %v", tc.name, err)
			continue
		}
		if err := r.Verify(); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Verify = %v, want ErrCorrupt", tc.name, err)
		}
		if v, _, _ := r.Find(foo); !within(v, tc.data) {
			t.Errorf("%s: Find returned a value outside the file", tc.name)
		}
	}
}
