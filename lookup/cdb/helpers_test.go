package cdb

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// record is a key/value pair as the tests handle them.
type record struct{ key, value string }

// parseNative parses tinycdb's native dump format, as read by `cdb -c` and
// written by `cdb -d`: "+klen,vlen:key->value\n" per record, then "\n".
func parseNative(data []byte) ([]record, error) {
	var recs []record
	for {
		if len(data) == 0 {
			return nil, errors.New("missing the terminating empty line")
		}
		if data[0] == '\n' {
			if len(data) != 1 {
				return nil, errors.New("data after the terminating empty line")
			}
			return recs, nil
		}
		if data[0] != '+' {
			return nil, fmt.Errorf("record %d: want '+', got %q", len(recs), data[0])
		}
		colon := bytes.IndexByte(data, ':')
		if colon < 0 {
			return nil, fmt.Errorf("record %d: no ':'", len(recs))
		}
		kl, vl, ok := strings.Cut(string(data[1:colon]), ",")
		klen, err1 := strconv.Atoi(kl)
		vlen, err2 := strconv.Atoi(vl)
		if !ok || err1 != nil || err2 != nil || klen < 0 || vlen < 0 {
			return nil, fmt.Errorf("record %d: bad lengths %q", len(recs), data[1:colon])
		}
		rest := data[colon+1:]
		if len(rest) < klen+2+vlen+1 || string(rest[klen:klen+2]) != "->" || rest[klen+2+vlen] != '\n' {
			return nil, fmt.Errorf("record %d: malformed body", len(recs))
		}
		recs = append(recs, record{string(rest[:klen]), string(rest[klen+2 : klen+2+vlen])})
		data = rest[klen+2+vlen+1:]
	}
}

// formatNative is the inverse of parseNative.
func formatNative(recs []record) []byte {
	var b bytes.Buffer
	for _, r := range recs {
		fmt.Fprintf(&b, "+%d,%d:%s->%s\n", len(r.key), len(r.value), r.key, r.value)
	}
	b.WriteByte('\n')
	return b.Bytes()
}

// memFile is an in-memory io.WriteSeeker.
type memFile struct {
	buf []byte
	off int
}

func (m *memFile) Write(p []byte) (int, error) {
	if end := m.off + len(p); end > len(m.buf) {
		m.buf = append(m.buf, make([]byte, end-len(m.buf))...)
	}
	m.off += copy(m.buf[m.off:], p)
	return len(p), nil
}

func (m *memFile) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += int64(m.off)
	case io.SeekEnd:
		offset += int64(len(m.buf))
	}
	if offset < 0 {
		return 0, errors.New("negative offset")
	}
	m.off = int(offset)
	return offset, nil
}

// build writes recs with a Writer into memory and returns the database.
func build(t testing.TB, recs []record) []byte {
	t.Helper()
	var m memFile
	w := NewWriter(&m)
	for _, r := range recs {
		if err := w.Add([]byte(r.key), []byte(r.value)); err != nil {
			t.Fatalf("Add(%q): %v", r.key, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return m.buf
}

// firstValues maps each key to the value of its first record.
func firstValues(recs []record) map[string]string {
	first := make(map[string]string, len(recs))
	for _, r := range recs {
		if _, dup := first[r.key]; !dup {
			first[r.key] = r.value
		}
	}
	return first
}

// fixtures returns the names of the golden fixtures in testdata.
func fixtures(t testing.TB) []string {
	t.Helper()
	paths, err := filepath.Glob("testdata/*.cdb")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures in testdata (%v)", err)
	}
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = strings.TrimSuffix(filepath.Base(p), ".cdb")
	}
	return names
}

// loadFixture returns a fixture's database and records.
func loadFixture(t testing.TB, name string) ([]byte, []record) {
	t.Helper()
	db, err := os.ReadFile(filepath.Join("testdata", name+".cdb"))
	if err != nil {
		t.Fatal(err)
	}
	native, err := os.ReadFile(filepath.Join("testdata", name+".records"))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := parseNative(native)
	if err != nil {
		t.Fatalf("%s.records: %v", name, err)
	}
	return db, recs
}
