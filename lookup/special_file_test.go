//go:build unix

package lookup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/internal/regfile"
	"github.com/mxrelay/mxrelay/lookup/cdb"
)

// within runs f and fails the test if it has not returned after d: the
// assertion is that f returns (a FIFO would block it forever), not a
// timing.
func within[R any](t *testing.T, d time.Duration, what string, f func() R) R {
	t.Helper()
	ch := make(chan R, 1)
	go func() { ch <- f() }()
	select {
	case r := <-ch:
		return r
	case <-time.After(d):
		t.Fatalf("%s did not return within %v (blocked on a FIFO?)", what, d)
		panic("unreachable")
	}
}

func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
}

// A table file replaced by a FIFO: lookups keep answering from the old
// contents without hanging, the reload error says what is wrong, and a
// regular file put back is picked up again.
func TestReloadFIFOKeepsOldContents(t *testing.T) {
	ctx := context.Background()
	for _, typ := range []string{"hash", "texthash", "cidr", "regexp", "cdb"} {
		t.Run(typ, func(t *testing.T) {
			clock := newClock()
			dir := t.TempDir()
			path := filepath.Join(dir, "table")
			file := path // the file the table reads
			key, val := "old.example", "OLD"
			newKey := "new.example"
			var write func(k, v string)
			switch typ {
			case "hash", "texthash":
				write = func(k, v string) { os.WriteFile(file, []byte(k+" "+v+"\n"), 0o644) }
			case "cidr":
				key, newKey = "192.0.2.1", "198.51.100.1"
				write = func(k, v string) { os.WriteFile(file, []byte(k+" "+v+"\n"), 0o644) }
			case "regexp":
				write = func(k, v string) {
					os.WriteFile(file, []byte("/^"+strings.ReplaceAll(k, ".", `\.`)+"$/ "+v+"\n"), 0o644)
				}
			case "cdb":
				file = path + ".cdb"
				write = func(k, v string) {
					os.WriteFile(path, []byte(k+" "+v+"\n"), 0o644)
					if _, err := Compile(path, CompileOptions{}); err != nil {
						t.Fatal(err)
					}
				}
			}
			write(key, val)
			tab, err := Open(ctx, typ+":"+path, clock.opts())
			if err != nil {
				t.Fatal(err)
			}
			if v, _ := mustLookup(t, tab, key); v != val {
				t.Fatalf("initial lookup = %q", v)
			}

			os.Remove(file)
			mkfifo(t, file)
			clock.advance(time.Second)
			for range 3 {
				v := within(t, 5*time.Second, "Lookup", func() string { v, _ := mustLookup(t, tab, key); return v })
				if v != val {
					t.Fatalf("lookup with the file replaced by a FIFO = %q, want the old %q", v, val)
				}
				clock.advance(time.Second)
			}
			if err := tab.(interface{ Err() error }).Err(); !errors.Is(err, regfile.ErrNotRegular) {
				t.Errorf("Err() = %v, want not a regular file", err)
			}

			os.Remove(file)
			if typ == "cdb" {
				os.Remove(path)
			}
			write(newKey, "NEW")
			clock.advance(time.Second)
			v := within(t, 5*time.Second, "Lookup", func() string { v, _ := mustLookup(t, tab, newKey); return v })
			if v != "NEW" {
				t.Errorf("regular file put back not picked up: lookup = %q", v)
			}
			if err := tab.(interface{ Err() error }).Err(); err != nil {
				t.Errorf("Err() after a good reload = %v", err)
			}
		})
	}
}

// Opening a table, a list file or a cdb database on a FIFO fails at once
// with an error that says it is not a regular file.
func TestOpenFIFOFails(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	mkfifo(t, fifo)
	os.Symlink(fifo, filepath.Join(dir, "link"))
	mkfifo(t, filepath.Join(dir, "db.cdb"))
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, regfile.ErrNotRegular) {
			t.Errorf("%s: err = %v, want not a regular file", what, err)
		} else if !strings.Contains(err.Error(), "FIFO") {
			t.Errorf("%s: error %q does not name the FIFO", what, err)
		}
	}
	for _, spec := range []string{"hash:" + fifo, "texthash:" + fifo, "cidr:" + fifo, "regexp:" + fifo,
		"hash:" + filepath.Join(dir, "link"), "cdb:" + filepath.Join(dir, "db")} {
		err := within(t, 5*time.Second, "Open "+spec, func() error { _, err := Open(ctx, spec, nil); return err })
		check(spec, err)
	}
	err := within(t, 5*time.Second, "ParseList", func() error {
		_, _, err := ParseList(ctx, "a.example "+fifo, ListOptions{Name: "relay_domains"})
		return err
	})
	check("list file", err)
	err = within(t, 5*time.Second, "cdb.Open", func() error { _, err := cdb.Open(filepath.Join(dir, "db.cdb")); return err })
	check("cdb.Open", err)
	err = within(t, 5*time.Second, "Compile", func() error { _, err := Compile(fifo, CompileOptions{}); return err })
	check("Compile", err)
	_, err = regfile.Open(dir)
	if !errors.Is(err, regfile.ErrNotRegular) {
		t.Errorf("regfile.Open(directory) = %v", err)
	}
}

// A reload that stalls delays only the lookup that started it, and that
// one for at most ReloadTimeout; the others answer from the previous
// contents at once, and the new contents arrive when the reload ends.
func TestStalledReloadIsBounded(t *testing.T) {
	clock := newClock()
	o := clock.opts()
	o.ReloadTimeout = 50 * time.Millisecond
	path := writeFile(t, "t", "1")
	release := make(chan struct{})
	stall := false
	r, err := newReloader("test:"+path, path, o, func(p string) (string, []Warning, error) {
		if stall {
			<-release
		}
		b, err := regfile.ReadFile(p)
		return string(b), nil, err
	})
	if err != nil {
		t.Fatal(err)
	}
	stall = true
	os.WriteFile(path, []byte("22"), 0o644)
	clock.advance(time.Second)
	if v := within(t, 5*time.Second, "get", func() string { return r.get().v }); v != "1" {
		t.Fatalf("get during a stalled reload = %q, want the old contents", v)
	}
	clock.advance(time.Second)
	start := time.Now()
	if v := within(t, 5*time.Second, "get", func() string { return r.get().v }); v != "1" {
		t.Fatalf("second get during a stalled reload = %q", v)
	}
	if d := time.Since(start); d > 40*time.Millisecond {
		t.Logf("note: second get took %v", d) // not an assertion: a slow machine may be slow
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for r.cur.Load().v != "22" {
		if time.Now().After(deadline) {
			t.Fatal("the stalled reload never delivered its contents")
		}
		time.Sleep(time.Millisecond)
	}
}
