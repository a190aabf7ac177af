package lookup

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/internal/testenv"

	"github.com/mxrelay/mxrelay/lookup/cdb"
)

// compileCases are the sources in testdata/compile and the postmap flags
// their .cdb files were made with (gen.sh there).
var compileCases = []struct {
	name  string
	flags []string
	o     CompileOptions
}{
	{"sample", nil, CompileOptions{}},
	{"empty", nil, CompileOptions{}},
	{"dups", nil, CompileOptions{}},
	{"dups-r", []string{"-r"}, CompileOptions{ParseOptions: ParseOptions{LastWins: true}}},
	{"dups-w", []string{"-w"}, CompileOptions{ParseOptions: ParseOptions{QuietDuplicates: true}}},
	{"dups-f", []string{"-f"}, CompileOptions{ParseOptions: ParseOptions{NoFold: true}}},
	{"nul", []string{"-N"}, CompileOptions{AppendNUL: true}},
	{"many", nil, CompileOptions{}},
	{"tricky", nil, CompileOptions{}},
	{"spaces", nil, CompileOptions{}},
	{"unicode", nil, CompileOptions{}},
}

func compileCopy(t *testing.T, name string, o CompileOptions) (string, []byte) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata/compile", name))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	os.WriteFile(p, src, 0o640)
	if _, err := Compile(p, o); err != nil {
		t.Fatalf("Compile(%s): %v", name, err)
	}
	out, err := os.ReadFile(p + ".cdb")
	if err != nil {
		t.Fatal(err)
	}
	return p, out
}

// TestCompileMatchesPostmap: our cdb files are byte-identical to the ones
// postmap cdb: made from the same sources with the same flags.
func TestCompileMatchesPostmap(t *testing.T) {
	for _, c := range compileCases {
		p, got := compileCopy(t, c.name, c.o)
		want, err := os.ReadFile(filepath.Join("testdata/compile", c.name+".cdb"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: Compile output (%d bytes) differs from postmap's (%d bytes)", c.name, len(got), len(want))
		}
		if fi, _ := os.Stat(p + ".cdb"); fi.Mode().Perm() != 0o640 {
			t.Errorf("%s: mode %v, want the source's read bits 0640", c.name, fi.Mode().Perm())
		}
		if _, err := os.Stat(p + ".cdb.tmp"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: temp file left behind", c.name)
		}
	}
}

// TestCompileMatchesLivePostmap runs the installed postmap on the same
// sources and cmp's the results (CI installs postfix-cdb).
func TestCompileMatchesLivePostmap(t *testing.T) {
	postmap := testenv.NeedProgram(t, "postmap")
	env := testenv.PostfixEnv(t)
	for _, c := range compileCases {
		p, got := compileCopy(t, c.name, c.o)
		theirs := p + "-postmap"
		src, _ := os.ReadFile(p)
		os.WriteFile(theirs, src, 0o640)
		cmd := exec.Command(postmap, append(c.flags, "cdb:"+theirs)...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("postmap %s: %v\n%s", c.name, err, out)
		}
		want, _ := os.ReadFile(theirs + ".cdb")
		if !bytes.Equal(got, want) {
			t.Errorf("%s: cmp differs from live postmap", c.name)
		}
	}
}

func TestCDBTableLookups(t *testing.T) {
	ctx := context.Background()
	t.Chdir("testdata/postmapq")
	dir := t.TempDir()
	src, _ := os.ReadFile("src.hash")
	p := filepath.Join(dir, "src")
	os.WriteFile(p, src, 0o644)
	if _, err := Compile(p, CompileOptions{}); err != nil {
		t.Fatal(err)
	}
	tab, err := Open(ctx, "cdb:"+p, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range readGolden(t, "src.cdb.golden") {
		v, ok, err := tab.Lookup(ctx, c.key)
		got := v
		if !ok {
			got = "(not found)"
		}
		if err != nil || got != c.value {
			t.Errorf("Lookup(%q) = %q, %v; postmap -q says %q", c.key, got, err, c.value)
		}
	}
}

// writeCDB writes raw records, as tinycdb "cdb -c" or another tool would.
func writeCDB(t *testing.T, path string, recs ...string) {
	t.Helper()
	err := cdb.WriteFile(path, 0o644, func(add func(k, v []byte) error) error {
		for i := 0; i < len(recs); i += 2 {
			if err := add([]byte(recs[i]), []byte(recs[i+1])); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCDBNulLockIn reproduces what "postmap -q - cdb:mixed" printed with
// Postfix 3.7 for a file holding k1\0->v1\0, k2->v2, k1->XX: the answers
// depend on which form matched first, because dict_cdb.c keeps the first
// form (with or without a trailing NUL) that ever matches.
func TestCDBNulLockIn(t *testing.T) {
	ctx := context.Background()
	base := filepath.Join(t.TempDir(), "mixed")
	writeCDB(t, base+".cdb", "k1\x00", "v1\x00", "k2", "v2", "k1", "XX")
	for _, c := range []struct {
		order []string
		want  []string
	}{
		{[]string{"k2", "k1"}, []string{"v2", "XX"}},
		{[]string{"k1", "k2"}, []string{"v1", "(not found)"}},
	} {
		tab, err := Open(ctx, "cdb:"+base, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i, k := range c.order {
			v, ok, err := tab.Lookup(ctx, k)
			if !ok {
				v = "(not found)"
			}
			if err != nil || v != c.want[i] {
				t.Errorf("order %v: %s = %q, %v; want %q", c.order, k, v, err, c.want[i])
			}
		}
	}
}

// TestCDBEmptyValueAndCorruption: an empty value (a configuration error
// in Postfix's maps.c; Postfix 3.7's cdb reader can crash on it) and a
// corrupt file are errors, never a crash or a hit.
func TestCDBEmptyValueAndCorruption(t *testing.T) {
	ctx := context.Background()
	base := filepath.Join(t.TempDir(), "transport")
	writeCDB(t, base+".cdb", "empty.example", "", "ok.example", "smtp:")
	tab, err := Open(ctx, "cdb:"+base, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := tab.Lookup(ctx, "empty.example"); ok || !errors.Is(err, ErrEmptyValue) || KindOf(err) != Config {
		t.Errorf("empty value: ok=%v err=%v", ok, err)
	}
	if v, _ := mustLookup(t, tab, "ok.example"); v != "smtp:" {
		t.Errorf("ok.example = %q", v)
	}
	data, _ := os.ReadFile(base + ".cdb")
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad+".cdb", data[:len(data)-5], 0o644)
	if _, err := Open(ctx, "cdb:"+bad, nil); err == nil || KindOf(err) != Config {
		t.Errorf("truncated file opened: %v", err)
	}
	if _, err := Open(ctx, "cdb:"+filepath.Join(t.TempDir(), "none"), nil); err == nil || !strings.Contains(err.Error(), "none.cdb") {
		t.Errorf("missing file error = %v", err)
	}
}

// TestCDBReplacedFile: postmap's rename gives the table a new inode; the
// open table sees it without a restart.
func TestCDBReplacedFile(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	base := filepath.Join(t.TempDir(), "r")
	writeCDB(t, base+".cdb", "a", "1")
	tab, err := Open(ctx, "cdb:"+base, clock.opts())
	if err != nil {
		t.Fatal(err)
	}
	mustLookup(t, tab, "a")
	writeCDB(t, base+".cdb", "a", "2")
	clock.advance(time.Second)
	if v, _ := mustLookup(t, tab, "a"); v != "2" {
		t.Errorf("after replacement a = %q, want 2", v)
	}
}

func TestCDBLookupAllocs(t *testing.T) {
	ctx := context.Background()
	base := filepath.Join(t.TempDir(), "a")
	writeCDB(t, base+".cdb", "user@example.com", "OK")
	tab, _ := Open(ctx, "cdb:"+base, nil)
	n := testing.AllocsPerRun(200, func() {
		tab.Lookup(ctx, "user@example.com")
		tab.Lookup(ctx, "nobody@example.com")
	})
	if n != 0 {
		t.Errorf("cdb lookups allocate %v times per hit+miss, want 0", n)
	}
}
