package lookup

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxrelay/mxrelay/internal/testenv"
)

type goldenCase struct{ key, value string } // value "(not found)" for a miss

func readGolden(t *testing.T, path string) []goldenCase {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []goldenCase
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			t.Fatalf("%s: bad line %q", path, sc.Text())
		}
		out = append(out, goldenCase{k, v})
	}
	return out
}

// goldenTables are the tables of testdata/postmapq and the golden file
// postmap's answers for them are in (see gen.sh there).
var goldenTables = []struct{ spec, golden string }{
	{"regexp:re.regexp", "re.golden"},
	{"regexp:edge.regexp", "edge.golden"},
	{"regexp:subst.regexp", "subst.golden"},
	{"regexp:empty.regexp", "empty.golden"},
	{"pcre:pat.pcre", "pat.golden"},
	{"pcre:edge.pcre", "edge.pcre.golden"},
	{"cidr:nets.cidr", "nets.golden"},
	{"cidr:edge.cidr", "edge.cidr.golden"},
	{"hash:src.hash", "src.golden"},
	{"lmdb:src.hash", "src.lmdb.golden"},
	{"btree:src.hash", "src.btree.golden"},
	{"proxy:btree:src.hash", "src.btree.golden"},
	{"inline:{ key=value, { k2 = text with spaces }, K3=upper }", "inline.golden"},
	{"inline:{ A=1, a=2, =y, {b = x, y} }", "inline2.golden"}, // last duplicate wins, empty key
}

// TestPostmapGolden checks every table type against what postmap -q
// answered for the same source and keys.
func TestPostmapGolden(t *testing.T) {
	ctx := context.Background()
	t.Chdir("testdata/postmapq")
	for _, g := range goldenTables {
		tab, err := Open(ctx, g.spec, nil)
		if err != nil {
			t.Fatalf("Open(%s): %v", g.spec, err)
		}
		for _, c := range readGolden(t, g.golden) {
			v, ok, err := tab.Lookup(ctx, c.key)
			if err != nil {
				t.Errorf("%s: Lookup(%q): %v", g.spec, c.key, err)
				continue
			}
			got := v
			if !ok {
				got = "(not found)"
			}
			if got != c.value {
				t.Errorf("%s: Lookup(%q) = %q, postmap -q says %q", g.spec, c.key, got, c.value)
			}
		}
	}
}

// TestPostmapGoldenIsCurrent re-asks the installed postmap, so the golden
// files cannot drift from what Postfix does.
func TestPostmapGoldenIsCurrent(t *testing.T) {
	postmap := testenv.NeedProgram(t, "postmap")
	env := testenv.PostfixEnv(t)
	dir := t.TempDir()
	for _, g := range goldenTables {
		spec := g.spec
		typ, name, _ := ParseSpec(spec)
		if typ == "proxy" {
			// postmap -q proxy: asks a running proxymap(8): ask the
			// table itself, which is what proxy: must answer.
			typ, name, _ = ParseSpec(name)
		}
		switch typ {
		case "hash", "lmdb", "btree":
			// postmap reads these from the file it builds: build one
			// from a copy of the source.
			src, _ := os.ReadFile(filepath.Join("testdata/postmapq", name))
			name = filepath.Join(dir, typ, name)
			os.MkdirAll(filepath.Dir(name), 0o755)
			os.WriteFile(name, src, 0o644)
			cmd := exec.Command(postmap, typ+":"+name)
			cmd.Env = env
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("postmap %s:%s: %v\n%s", typ, name, err, out)
			}
			spec = typ + ":" + name
		case "inline":
		default:
			spec = typ + ":" + filepath.Join("testdata/postmapq", name)
		}
		for _, c := range readGolden(t, filepath.Join("testdata/postmapq", g.golden)) {
			cmd := exec.Command(postmap, "-q", c.key, spec)
			cmd.Env = env
			out, err := cmd.Output()
			got := strings.TrimSuffix(string(out), "\n")
			if err != nil {
				got = "(not found)"
			}
			if got != c.value {
				t.Errorf("postmap -q %q %s = %q; golden file says %q (rerun gen.sh)", c.key, spec, got, c.value)
			}
		}
	}
}
