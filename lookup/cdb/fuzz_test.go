package cdb

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// FuzzReader feeds arbitrary bytes to NewReader. Properties: an error wraps
// ErrCorrupt; otherwise Len matches All, every key and value All or Find
// returns lies inside the data, Find errors wrap ErrCorrupt, and when Verify
// accepts the file, Find of every listed key returns, without error, one
// of the values listed for that key.
func FuzzReader(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*.cdb")
	for _, p := range paths {
		if data, err := os.ReadFile(p); err == nil && len(data) < 8<<10 {
			f.Add(data)
		}
	}
	good, err := os.ReadFile("testdata/c.cdb")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(corrupt(good, [2]uint32{2120, 2049}))       // slot mid-record
	f.Add(corrupt(good, [2]uint32{2120, 0xfffffffc})) // slot near 4 GiB
	f.Add(good[:2100])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("NewReader error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		values := map[string][]string{}
		n := 0
		for k, v := range r.All() {
			n++
			if !within(k, data) || !within(v, data) {
				t.Fatalf("All yielded a string outside the data")
			}
			values[k] = append(values[k], v)
		}
		if n != r.Len() {
			t.Fatalf("Len = %d, All yielded %d", r.Len(), n)
		}
		verified := r.Verify()
		if verified != nil && !errors.Is(verified, ErrCorrupt) {
			t.Fatalf("Verify error does not wrap ErrCorrupt: %v", verified)
		}
		for k, vs := range values {
			for _, key := range []string{k, k + "\x00", k[:len(k)/2]} {
				v, ok, err := r.Find(key)
				if err != nil && !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Find(%q) error does not wrap ErrCorrupt: %v", key, err)
				}
				if !within(v, data) {
					t.Fatalf("Find(%q) returned a value outside the data", key)
				}
				if verified == nil && (err != nil || ok != (values[key] != nil) || ok && !slices.Contains(values[key], v)) {
					t.Fatalf("verified file: Find(%q) = %q, %v, %v; listed values %q", key, v, ok, err, values[key])
				}
			}
			if verified == nil {
				if v, _, _ := r.FindBytes([]byte(k)); !slices.Contains(vs, v) {
					t.Fatalf("FindBytes(%q) = %q, listed values %q", k, v, vs)
				}
			}
		}
	})
}

// FuzzRoundTrip writes records decoded from the input (klen byte, key,
// vlen byte, value, repeated) and reads them back: the file passes Verify,
// All returns the records in order, and Find returns each key's
// first-inserted value and misses keys that were not added.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("\x03key\x05value"))
	f.Add([]byte("\x01a\x01x\x01a\x01y\x00\x00\x01b\x00"))
	f.Add([]byte("\x03k1\x00\x03v1\x00\x02k1\x02XX"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var recs []record
		next := func() (string, bool) {
			if len(in) == 0 {
				return "", false
			}
			n := min(int(in[0]), len(in)-1)
			s := string(in[1 : 1+n])
			in = in[1+n:]
			return s, true
		}
		for {
			k, ok := next()
			if !ok {
				break
			}
			v, _ := next()
			recs = append(recs, record{k, v})
		}
		data := build(t, recs)
		r, err := NewReader(data)
		if err != nil {
			t.Fatalf("NewReader on our own output: %v", err)
		}
		if err := r.Verify(); err != nil {
			t.Fatalf("Verify on our own output: %v", err)
		}
		if got := collect(r); !slices.Equal(got, recs) && len(got)+len(recs) > 0 {
			t.Fatalf("All = %q, want %q", got, recs)
		}
		first := firstValues(recs)
		for k, want := range first {
			if v, ok, err := r.Find(k); v != want || !ok || err != nil {
				t.Fatalf("Find(%q) = %q, %v, %v; want %q", k, v, ok, err, want)
			}
			if _, added := first[k+"\x00"]; !added {
				if v, ok, err := r.Find(k + "\x00"); ok || err != nil {
					t.Fatalf("Find(%q) = %q, %v, %v; want a miss", k+"\x00", v, ok, err)
				}
			}
		}
	})
}
