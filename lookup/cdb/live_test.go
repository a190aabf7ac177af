package cdb

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/internal/testenv"
)

// randomRecords returns n records with random binary keys and values
// (NUL, newline, high bytes; empty keys and values; about 10% duplicate
// keys), the input `cdb -c` accepts in its native format.
func randomRecords(rng *rand.Rand, n int) []record {
	recs := make([]record, 0, n)
	randBytes := func(max int) string {
		b := make([]byte, rng.IntN(max+1))
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return string(b)
	}
	for range n {
		var k string
		if len(recs) > 0 && rng.IntN(10) == 0 {
			k = recs[rng.IntN(len(recs))].key
		} else {
			k = randBytes(40)
		}
		recs = append(recs, record{k, randBytes(80)})
	}
	return recs
}

// TestLiveCdbC runs tinycdb's `cdb -c` on random records and requires our
// Writer to produce the identical file (cmp) and our Reader to read it.
func TestLiveCdbC(t *testing.T) {
	cdbPath := testenv.NeedProgram(t, "cdb")
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for _, n := range []int{0, 1, 2, 255, 256, 257, 2000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			recs := randomRecords(rng, n)
			path := filepath.Join(t.TempDir(), "live.cdb")
			cmd := exec.Command(cdbPath, "-c", path)
			cmd.Stdin = bytes.NewReader(formatNative(recs))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("cdb -c: %v\n%s", err, out)
			}
			theirs, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if ours := build(t, recs); !bytes.Equal(ours, theirs) {
				t.Fatalf("Writer differs from cdb -c at byte %d (%d vs %d bytes)", firstDiff(ours, theirs), len(ours), len(theirs))
			}
			r, err := NewReader(theirs)
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range firstValues(recs) {
				if v, ok, err := r.Find(k); v != want || !ok || err != nil {
					t.Fatalf("Find(%q) = %q, %v, %v; want %q", k, v, ok, err, want)
				}
			}
		})
	}
}

// TestLivePostmap runs `postmap cdb:` on a random source with folded
// duplicate keys and requires our Writer, given the records postmap
// stores, to produce the identical file. It pins how postmap's duplicate
// options shape the file: by default the first record of a key is kept (with
// a warning), -r keeps the last one (in the last one's position, as if the
// earlier ones had never been added), and -w keeps every record.
func TestLivePostmap(t *testing.T) {
	postmap := testenv.NeedProgram(t, "postmap")
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	dir := t.TempDir()
	conf := filepath.Join(dir, "conf")
	if err := os.Mkdir(conf, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(conf, "main.cf"), []byte("compatibility_level = 3.6\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.@-_+=[]"
	word := func(n int) string {
		b := make([]byte, 1+rng.IntN(n))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	var src strings.Builder
	var all []record // every source line, key folded as postmap does
	for range 1500 {
		k := word(30)
		if len(all) > 0 && rng.IntN(20) == 0 {
			k = strings.ToUpper(all[rng.IntN(len(all))].key) // a folded duplicate
		}
		v := word(10) + " " + word(10)
		fmt.Fprintf(&src, "%s\t%s\n", k, v)
		all = append(all, record{strings.ToLower(k), v})
	}
	path := filepath.Join(dir, "src")
	if err := os.WriteFile(path, []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// keep returns one record per key, the first or the last, in file order.
	keep := func(last bool) []record {
		idx := map[string]int{}
		for i, r := range all {
			if _, dup := idx[r.key]; !dup || last {
				idx[r.key] = i
			}
		}
		var recs []record
		for i, r := range all {
			if idx[r.key] == i {
				recs = append(recs, r)
			}
		}
		return recs
	}
	for _, tc := range []struct {
		flag string
		recs []record
	}{
		{"", keep(false)},
		{"-r", keep(true)},
		{"-w", all},
	} {
		args := []string{"-c", conf, "cdb:" + path}
		if tc.flag != "" {
			args = append([]string{tc.flag}, args...)
		}
		if out, err := exec.Command(postmap, args...).CombinedOutput(); err != nil {
			t.Fatalf("postmap %s: %v\n%s", tc.flag, err, out)
		}
		theirs, err := os.ReadFile(path + ".cdb")
		if err != nil {
			t.Fatal(err)
		}
		if ours := build(t, tc.recs); !bytes.Equal(ours, theirs) {
			t.Errorf("postmap %s: Writer differs at byte %d (%d vs %d bytes)", tc.flag, firstDiff(ours, theirs), len(ours), len(theirs))
		}
	}
}
