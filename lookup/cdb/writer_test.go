package cdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestHash(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want uint32
	}{
		{"", 5381},                          // the initial value
		{"a", 5381*33 ^ 'a'},                // one step: 177573 ^ 97
		{"foo@example.com", 0xe8730b04},     // postmap's c.cdb (TestWorkedExample)
		{"ab", (5381*33^'a')*33 ^ 'b'},      // two steps
		{"\xff", 5381*33 ^ 0xff},            // bytes are unsigned
		{"k1\x00", Hash([]byte("k1")) * 33}, // NUL: multiply, xor 0
	} {
		if got := Hash([]byte(tc.key)); got != tc.want {
			t.Errorf("Hash(%q) = %08x, want %08x", tc.key, got, tc.want)
		}
		if got := hash(tc.key); got != tc.want {
			t.Errorf("hash(string %q) = %08x, want %08x", tc.key, got, tc.want)
		}
	}
}

// TestWorkedExample checks the layout of djb's cdb format (as tinycdb and
// postmap write it) on the database postmap built from
//
//	Foo@Example.COM  Value1 / b  2 / b 3 / example.com  OK
//
// i.e. the records foo@example.com→Value1, b→2, example.com→OK.
func TestWorkedExample(t *testing.T) {
	db := build(t, []record{{"foo@example.com", "Value1"}, {"b", "2"}, {"example.com", "OK"}})
	u32 := func(off int) uint32 { return binary.LittleEndian.Uint32(db[off:]) }
	checks := []struct {
		what      string
		got, want uint32
	}{
		{"file size", uint32(len(db)), 2156},
		{"first record klen", u32(2048), 15},
		{"first record dlen", u32(2052), 6},
		{"header[0].pos (empty bucket: where the tables start)", u32(0), 2108},
		{"header[0].slots", u32(4), 0},
		{"header[4].pos", u32(4 * 8), 2108},
		{"header[4].slots (2 × 1 record)", u32(4*8 + 4), 2},
		// (0xe8730b04 >> 8) % 2 = 1: the record sits in the second slot.
		{"table 4 slot 0 hash (empty)", u32(2108), 0},
		{"table 4 slot 0 pos (empty)", u32(2112), 0},
		{"table 4 slot 1 hash", u32(2116), 0xe8730b04},
		{"table 4 slot 1 pos", u32(2120), 2048},
		{"header[255].pos (after the last table)", u32(255 * 8), 2156},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d (%#x), want %d (%#x)", c.what, c.got, c.got, c.want, c.want)
		}
	}
	if string(db[2056:2077]) != "foo@example.comValue1" {
		t.Errorf("first record body = %q", db[2056:2077])
	}
	golden, err := os.ReadFile("testdata/c.cdb")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(db, golden) {
		t.Errorf("not identical to postmap's testdata/c.cdb")
	}
}

// TestWriterGolden rebuilds every committed fixture (made by `cdb -c` or
// `postmap cdb:`, see testdata/gen.sh) from its records and requires the
// same bytes, through both the in-memory Writer and WriteFile.
func TestWriterGolden(t *testing.T) {
	for _, name := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			golden, recs := loadFixture(t, name)
			if got := build(t, recs); !bytes.Equal(got, golden) {
				t.Fatalf("Writer output (%d bytes) differs from testdata/%s.cdb (%d bytes) at byte %d",
					len(got), name, len(golden), firstDiff(got, golden))
			}
			path := filepath.Join(t.TempDir(), name+".cdb")
			err := WriteFile(path, 0o644, func(add func(k, v []byte) error) error {
				for _, r := range recs {
					if err := add([]byte(r.key), []byte(r.value)); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, golden) {
				t.Fatalf("WriteFile output differs from testdata/%s.cdb at byte %d", name, firstDiff(got, golden))
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestWriterTooLarge(t *testing.T) {
	var m memFile
	w := NewWriter(&m)
	// Room for the header, one 8+3+5-byte record and its two slots, plus
	// 10 bytes: a second record of any size does not fit (it needs 8 bytes
	// plus 16 for its own slots).
	w.max = headerSize + 16 + 16 + 10
	if err := w.Add([]byte("key"), []byte("value")); err != nil {
		t.Fatalf("first Add: %v", err)
	}
	err := w.Add([]byte("k"), nil)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("second Add = %v, want ErrTooLarge", err)
	}
	// The rejected record is not written and the Writer still works.
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if want := build(t, []record{{"key", "value"}}); !bytes.Equal(m.buf, want) {
		t.Fatalf("database after a rejected record differs from one without it")
	}
	if len(m.buf) > int(w.max) {
		t.Fatalf("file is %d bytes, over the limit %d", len(m.buf), w.max)
	}

	// A record exactly at the limit is accepted.
	w = NewWriter(&memFile{})
	w.max = headerSize + 16 + 16
	if err := w.Add([]byte("key"), []byte("value")); err != nil {
		t.Fatalf("record that exactly fits: %v", err)
	}
}

func TestWriterAddAfterClose(t *testing.T) {
	var m memFile
	w := NewWriter(&m)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Add([]byte("k"), []byte("v")); err == nil {
		t.Fatal("Add after Close succeeded")
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if len(m.buf) != headerSize {
		t.Fatalf("empty database is %d bytes, want %d", len(m.buf), headerSize)
	}
}

// failFile fails writes once more than limit bytes were written, or seeks.
type failFile struct {
	memFile
	limit   int
	seekErr bool
}

var errDiskFull = errors.New("no space left on device")

func (f *failFile) Write(p []byte) (int, error) {
	if f.off+len(p) > f.limit {
		return 0, errDiskFull
	}
	return f.memFile.Write(p)
}

func (f *failFile) Seek(off int64, whence int) (int64, error) {
	if f.seekErr {
		return 0, errDiskFull
	}
	return f.memFile.Seek(off, whence)
}

func TestWriterIOErrors(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 100<<10) // larger than the write buffer
	t.Run("write", func(t *testing.T) {
		w := NewWriter(&failFile{limit: 10 << 10})
		err := w.Add([]byte("k"), big)
		if !errors.Is(err, errDiskFull) {
			t.Fatalf("Add = %v, want disk full", err)
		}
		if err2 := w.Add([]byte("k2"), []byte("v")); !errors.Is(err2, errDiskFull) {
			t.Fatalf("Add after an I/O error = %v, want the same error", err2)
		}
		if err2 := w.Close(); !errors.Is(err2, errDiskFull) {
			t.Fatalf("Close after an I/O error = %v, want the same error", err2)
		}
	})
	t.Run("flush", func(t *testing.T) {
		w := NewWriter(&failFile{limit: headerSize + 100})
		if err := w.Add([]byte("k"), bytes.Repeat([]byte("v"), 200)); err != nil {
			t.Fatalf("buffered Add failed early: %v", err)
		}
		if err := w.Close(); !errors.Is(err, errDiskFull) {
			t.Fatalf("Close = %v, want disk full", err)
		}
	})
	t.Run("seek", func(t *testing.T) {
		w := NewWriter(&failFile{limit: 1 << 20, seekErr: true})
		if err := w.Close(); !errors.Is(err, errDiskFull) {
			t.Fatalf("Close = %v, want the seek error", err)
		}
	})
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "table.cdb")
	add := func(recs ...record) func(func(k, v []byte) error) error {
		return func(a func(k, v []byte) error) error {
			for _, r := range recs {
				if err := a([]byte(r.key), []byte(r.value)); err != nil {
					return err
				}
			}
			return nil
		}
	}
	if err := WriteFile(path, 0o666, add(record{"k", "v1"})); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o666 {
		t.Errorf("mode %v, want 0666 regardless of the umask", fi.Mode().Perm())
	}
	if _, err := os.Stat(path + ".tmp"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temporary file left behind: %v", err)
	}

	// A failing fill leaves the old database in place and no temp file.
	boom := errors.New("boom")
	err = WriteFile(path, 0o644, func(a func(k, v []byte) error) error {
		if err := a([]byte("k"), []byte("v2")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("WriteFile = %v, want fill's error", err)
	}
	if _, err := os.Stat(path + ".tmp"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temporary file left behind after an error: %v", err)
	}
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok, err := r.Find("k"); v != "v1" || !ok || err != nil {
		t.Errorf("after a failed rebuild Find(k) = %q, %v, %v; want the old v1", v, ok, err)
	}

	// A directory that does not exist: an error, nothing created.
	if err := WriteFile(filepath.Join(dir, "nope", "t.cdb"), 0o644, add()); err == nil {
		t.Fatal("WriteFile into a missing directory succeeded")
	}
}
