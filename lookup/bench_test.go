package lookup

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// benchTables caches the large tables between benchmarks of one run.
var benchTables = struct {
	sync.Mutex
	dir string
	src map[int]string // size -> source path (compiled to .cdb too)
}{src: map[int]string{}}

func benchKey(i int) string { return fmt.Sprintf("user%d@example%d.com", i, i%100) }

func benchSource(b *testing.B, n int) string {
	benchTables.Lock()
	defer benchTables.Unlock()
	if p, ok := benchTables.src[n]; ok {
		return p
	}
	if benchTables.dir == "" {
		d, err := os.MkdirTemp("", "lookup-bench")
		if err != nil {
			b.Fatal(err)
		}
		benchTables.dir = d
	}
	p := filepath.Join(benchTables.dir, fmt.Sprintf("src%d", n))
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i := 0; i < n; i++ {
		fmt.Fprintf(w, "%s OK\n", benchKey(i))
	}
	w.Flush()
	f.Close()
	if _, err := Compile(p, CompileOptions{}); err != nil {
		b.Fatal(err)
	}
	benchTables.src[n] = p
	return p
}

func benchLookup(b *testing.B, spec func(src string) string) {
	ctx := context.Background()
	for _, n := range []int{1000, 1000000} {
		src := benchSource(b, n)
		var tab Table
		var err error
		if s := spec(src); s == "memory" {
			m := make(map[string]string, n)
			for i := 0; i < n; i++ {
				m[benchKey(i)] = "OK"
			}
			tab = NewMap(m)
		} else if tab, err = Open(ctx, s, nil); err != nil {
			b.Fatal(err)
		}
		keys := make([]string, 1024)
		misses := make([]string, 1024)
		for i := range keys {
			keys[i] = benchKey((i * 7919) % n)
			misses[i] = fmt.Sprintf("nobody%d@example.com", i)
		}
		for _, c := range []struct {
			name string
			keys []string
			want bool
		}{{"hit", keys, true}, {"miss", misses, false}} {
			b.Run(fmt.Sprintf("%d/%s", n, c.name), func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					_, ok, err := tab.Lookup(ctx, c.keys[i&1023])
					if ok != c.want || err != nil {
						b.Fatal(ok, err)
					}
					i++
				}
			})
		}
	}
}

func BenchmarkLookupMap(b *testing.B) {
	benchLookup(b, func(src string) string { return "memory" })
}

func BenchmarkLookupHash(b *testing.B) {
	benchLookup(b, func(src string) string { return "hash:" + src })
}
func BenchmarkLookupCDB(b *testing.B) {
	benchLookup(b, func(src string) string { return "cdb:" + src })
}

// BenchmarkCompile1M measures "postmap cdb:" for a 1,000,000-key source:
// parse, fold, de-duplicate, write, fsync, rename.
func BenchmarkCompile1M(b *testing.B) {
	src := benchSource(b, 1000000)
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		if _, err := Compile(src, CompileOptions{}); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(1000000)/time.Since(start).Seconds(), "keys/s")
	}
}

// BenchmarkUserTable measures what Open adds to each lookup of a table of
// the caller's: key folding and the lookup bound (a goroutine and a timer).
func BenchmarkUserTable(b *testing.B) {
	tab := TableFunc(func(_ context.Context, key string) (string, bool, error) { return "OK", key != "", nil })
	for _, bc := range []struct {
		name string
		t    Table
	}{
		{"plain", tab},
		{"folded", Folded(tab)},
		{"folded+bounded", (*OpenOptions)(nil).UserTable(tab)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, ok, err := bc.t.Lookup(ctx, "Bob+tag@Example.COM"); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
	}
}
