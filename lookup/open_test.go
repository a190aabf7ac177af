package lookup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is an injected clock for reload pacing.
type fakeClock struct{ t atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.t.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.t.Add(int64(d)) }
func newClock() *fakeClock                   { c := &fakeClock{}; c.t.Store(time.Unix(1e9, 0).UnixNano()); return c }
func (c *fakeClock) opts() *OpenOptions      { return &OpenOptions{Now: c.now} }
func mustLookup(t *testing.T, tab Table, key string) (string, bool) {
	t.Helper()
	v, ok, err := tab.Lookup(context.Background(), key)
	if err != nil {
		t.Fatalf("Lookup(%q): %v", key, err)
	}
	return v, ok
}

func TestHashReload(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	path := writeFile(t, "recipients", "user1@backup.example OK\n")
	tab, err := Open(ctx, "hash:"+path, clock.opts())
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := mustLookup(t, tab, "USER1@backup.example"); !ok || v != "OK" {
		t.Fatalf("initial lookup = %q, %v", v, ok)
	}
	// A new file (rename, as editors and postmap do) is picked up once the
	// check interval has passed, and not before.
	tmp := path + ".new"
	os.WriteFile(tmp, []byte("user2@backup.example OK\n"), 0o644)
	os.Rename(tmp, path)
	if _, ok := mustLookup(t, tab, "user2@backup.example"); ok {
		t.Error("reloaded before the check interval passed")
	}
	clock.advance(time.Second)
	if _, ok := mustLookup(t, tab, "user2@backup.example"); !ok {
		t.Error("new contents not loaded after the interval")
	}
	if _, ok := mustLookup(t, tab, "user1@backup.example"); ok {
		t.Error("old entry still present after reload")
	}
	// A reload that fails (file gone) keeps the previous contents and says so.
	os.Remove(path)
	clock.advance(time.Second)
	if _, ok := mustLookup(t, tab, "user2@backup.example"); !ok {
		t.Error("a failed reload dropped the previous contents")
	}
	if tab.(HashTable).Err() == nil {
		t.Error("failed reload not reported by Err")
	}
	// And recovers when the file is back.
	os.WriteFile(path, []byte("user3@backup.example OK\nbad-line\n"), 0o644)
	clock.advance(time.Second)
	if _, ok := mustLookup(t, tab, "user3@backup.example"); !ok || tab.(HashTable).Err() != nil {
		t.Error("did not recover when the file came back")
	}
	if w := tab.(Warner).Warnings(); len(w) != 1 || !strings.Contains(w[0].String(), "line 2: expected format") {
		t.Errorf("warnings after reload = %v", w)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "only.db"), []byte("berkeley"), 0o644)
	os.WriteFile(filepath.Join(dir, "built.lmdb"), []byte("lmdb"), 0o644)
	re := writeFile(t, "backref", "/(a)\\1/ x\n")
	look := writeFile(t, "lookahead", "/a(?=b)/ x\n")
	basic := writeFile(t, "basic", "/a/x x\n")
	digit := writeFile(t, "digit", "/\\d/ x\n")
	brack := writeFile(t, "brack", "/[\\.]/ x\n")
	lazy := writeFile(t, "lazy", "/a+?/ x\n")
	coll := writeFile(t, "coll", "/[[.a.]]/ x\n")
	hostbits := writeFile(t, "cidr", "192.0.2.1/24 x\n")
	for spec, want := range map[string]string{
		"nosuch:thing":                        "unsupported dictionary type: nosuch (known types: btree, cdb, cidr, dbm, hash, inline, lmdb, pcre, proxy, regexp, socketmap, static, tcp, texthash, unix)",
		"pgsql:/etc/postfix/pgsql-users.cf":   "unsupported dictionary type: pgsql (known types: btree, cdb, cidr, dbm, hash, inline, lmdb, pcre, proxy, regexp, socketmap, static, tcp, texthash, unix); pgsql: tables are in the module github.com/mxrelay/mxrelay/lookup/pgsql: a program links them in with lookup.OpenOptions.Types or relay.LoadOptions.Types (examples/mxrelayd/all and examples/mxmap/all do)",
		"proxy:nosuch:thing":                  "unsupported dictionary type: nosuch",
		"proxy:proxy:hash:/x":                 "cannot itself be proxied",
		"hash:" + filepath.Join(dir, "only"):  "Berkeley DB file, which mxrelay does not read",
		"btree:" + filepath.Join(dir, "only"): "only.db is a Berkeley DB file, which mxrelay does not read; btree: tables are loaded from their source file",
		"lmdb:" + filepath.Join(dir, "built"): "built.lmdb is an LMDB file, which mxrelay does not read; lmdb: tables are loaded from their source file",
		"hash:" + filepath.Join(dir, "none"):  "no such file",
		"regexp:" + re:                        "cannot be used with Go's RE2 engine",
		"regexp:" + look:                      "cannot be used with Go's RE2 engine",
		"regexp:" + basic:                     "POSIX basic",
		"regexp:" + digit:                     `\d in /\d/ does not mean in Postfix`,
		"regexp:" + brack:                     "a backslash inside [...] is literal in Postfix",
		"regexp:" + lazy:                      "is non-greedy in Go's RE2",
		"regexp:" + coll:                      "collating element",
		"cidr:" + hostbits:                    `perhaps you should use "192.0.2.0/24" instead`,
		"inline:{ a=b":                        "need \"{ name=value... }\"",
		"inline:{ novalue }":                  "missing '='",
		"inline:{}":                           "bad syntax",
		"static:":                             "needs a value",
		"unix:shadow.byname":                  "unknown map name",
		"no-colon":                            "want type:name",
	} {
		_, err := Open(ctx, spec, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%q) error = %v, want it to say %q", spec, err, want)
			continue
		}
		if KindOf(err) != Config {
			t.Errorf("Open(%q): error kind %v, want configuration", spec, KindOf(err))
		}
	}
}

func TestOpenUserType(t *testing.T) {
	ctx := context.Background()
	calls := 0
	o := &OpenOptions{Types: map[string]OpenFunc{
		"http": func(_ context.Context, name string, _ *OpenOptions) (Table, error) {
			calls++
			return TableFunc(func(_ context.Context, key string) (string, bool, error) {
				if key == "down" {
					return "", false, errors.New("connection refused")
				}
				return name + ":" + key, true, nil
			}), nil
		},
	}}
	tab, err := Open(ctx, "http:api.example", o)
	if err != nil || calls != 1 {
		t.Fatal(err, calls)
	}
	if v, _ := mustLookup(t, tab, "k"); v != "api.example:k" {
		t.Errorf("user table value = %q", v)
	}
	// An unclassified error from a user table is temporary (451 4.3.0).
	_, _, err = Search(ctx, []Table{tab}, []Key{{"down", KeyAddress}})
	if KindOf(err) != Temporary {
		t.Errorf("user table error kind = %v, want temporary", KindOf(err))
	}
	if _, err := Open(ctx, "http:x", nil); err == nil {
		t.Error("a user type leaked into an Open call without it")
	}
}

func TestSearchPatternMajorAndErrors(t *testing.T) {
	ctx := context.Background()
	a := NewMap(map[string]string{"example.com": "A-domain"})
	b := NewMap(map[string]string{"user@example.com": "B-user", "empty@example.com": ""})
	keys := AppendRecipientKeys(nil, "user@example.com", KeyOptions{})
	keys = append(keys, Key{"example.com", KeyDomain})
	// Pattern-major: table B's user@ hit beats table A's domain hit.
	r, ok, err := Search(ctx, []Table{a, b}, keys)
	if err != nil || !ok || r.Value != "B-user" || r.Table != 1 || r.Key.Kind != KeyAddress {
		t.Errorf("Search = %+v, %v, %v", r, ok, err)
	}
	// An empty value is a configuration error (as in Postfix's maps.c), not
	// a hit and not a crash.
	_, ok, err = Search(ctx, []Table{b}, []Key{{"empty@example.com", KeyAddress}})
	if ok || KindOf(err) != Config || !errors.Is(err, ErrEmptyValue) {
		t.Errorf("empty value: ok=%v err=%v", ok, err)
	}
	// A failing table stops the search: later tables are not consulted.
	failing := TableFunc(func(context.Context, string) (string, bool, error) {
		return "", false, &Error{Kind: Temporary, Err: errors.New("timeout")}
	})
	_, ok, err = Search(ctx, []Table{failing, b}, keys)
	if ok || KindOf(err) != Temporary {
		t.Errorf("failing table: ok=%v err=%v", ok, err)
	}
}

func TestUnixTable(t *testing.T) {
	pw := writeFile(t, "passwd", "root:x:0:0:root:/root:/bin/bash\n#comment:x\nalice:x:1000:1000::/home/alice:/bin/sh\n")
	tab, err := Open(context.Background(), "unix:passwd.byname", &OpenOptions{PasswdFile: pw})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := mustLookup(t, tab, "Alice"); !ok || !strings.HasPrefix(v, "alice:x:1000") {
		t.Errorf("alice = %q, %v", v, ok)
	}
	if _, ok := mustLookup(t, tab, "bob"); ok {
		t.Error("bob found")
	}
}

func TestStaticAndInline(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "static:{ text with spaces }", nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := mustLookup(t, s, "anything"); v != "text with spaces" {
		t.Errorf("static = %q", v)
	}
	if Name(s) != "static:{ text with spaces }" {
		t.Errorf("Name = %q", Name(s))
	}
}
