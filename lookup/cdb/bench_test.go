package cdb

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
)

// benchKeys returns n keys "user%d@example.com".
func benchKeys(n int) [][]byte {
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "user%d@example.com", i)
	}
	return keys
}

// buildBench writes a database of keys (value "relay:[mxN.example.net]")
// with WriteFile and opens it.
func buildBench(b *testing.B, path string, keys [][]byte) *Reader {
	b.Helper()
	value := make([]byte, 0, 32)
	err := WriteFile(path, 0o644, func(add func(k, v []byte) error) error {
		for i, k := range keys {
			value = fmt.Appendf(value[:0], "relay:[mx%d.example.net]", i%97)
			if err := add(k, value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	r, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// BenchmarkFind looks up keys in databases of 1,000 and 1,000,000 keys,
// cycling through all keys in file order (hit), in a random order
// (hit-random: no locality between lookups, as for real mail), or through
// keys that are absent (miss).
func BenchmarkFind(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000} {
		keys := benchKeys(n)
		r := buildBench(b, filepath.Join(b.TempDir(), "bench.cdb"), keys)
		hits := make([]string, n)
		misses := make([]string, n)
		for i, k := range keys {
			hits[i] = string(k)
			misses[i] = fmt.Sprintf("nouser%d@example.com", i)
		}
		// The shuffled keys' bytes are laid out contiguously, so that the
		// benchmark measures the database's memory accesses, not its own.
		order := rand.New(rand.NewPCG(1, 2)).Perm(n)
		var all strings.Builder
		for _, i := range order {
			all.WriteString(hits[i])
		}
		shuffled := make([]string, n)
		for j, off := 0, 0; j < n; j++ {
			l := len(hits[order[j]])
			shuffled[j] = all.String()[off : off+l]
			off += l
		}
		for _, tc := range []struct {
			name string
			keys []string
			want bool
		}{{"hit", hits, true}, {"hit-random", shuffled, true}, {"miss", misses, false}} {
			b.Run(fmt.Sprintf("keys=%d/%s", n, tc.name), func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if _, ok, err := r.Find(tc.keys[i]); ok != tc.want || err != nil {
						b.Fatalf("Find(%q) = %v, %v", tc.keys[i], ok, err)
					}
					if i++; i == len(tc.keys) {
						i = 0
					}
				}
			})
		}
	}
}

// BenchmarkBuild builds a 1,000,000-key database, in memory (Writer) and
// on disk (WriteFile: temp file, fsync, rename). One op = the whole build.
func BenchmarkBuild(b *testing.B) {
	const n = 1_000_000
	keys := benchKeys(n)
	value := []byte("relay:[mx.example.net]")
	b.Run("keys=1000000/memory", func(b *testing.B) {
		b.ReportAllocs()
		var m memFile
		for b.Loop() {
			m.buf, m.off = m.buf[:0], 0
			w := NewWriter(&m)
			for _, k := range keys {
				if err := w.Add(k, value); err != nil {
					b.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/key")
	})
	b.Run("keys=1000000/file", func(b *testing.B) {
		b.ReportAllocs()
		path := filepath.Join(b.TempDir(), "build.cdb")
		for b.Loop() {
			err := WriteFile(path, 0o644, func(add func(k, v []byte) error) error {
				for _, k := range keys {
					if err := add(k, value); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/key")
	})
}
