package lookup

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseText: whatever the input, parsing, writing the entries back as
// "key value" lines, and parsing again gives the same entries and no
// warnings; keys are folded, values are non-empty and trimmed, and no entry
// holds a NUL or invalid UTF-8.
func FuzzParseText(f *testing.F) {
	f.Add(postmapSample)
	f.Add("k1 v1\r\n\tmore\r\nk3 v3\n\n more3\n  leading\n")
	f.Add("\"a b\" x\n\"unbal\nkey:value\n#c\n")
	f.Add("k\x00nul v\nk2 va\x00lue\nk3 v\x00\xff\n\vcont\n")
	f.Fuzz(func(t *testing.T, src string) {
		entries, _, err := ParseText(strings.NewReader(src), "f", ParseOptions{})
		if err != nil {
			return
		}
		var b strings.Builder
		seen := map[string]bool{}
		for _, e := range entries {
			if e.Key == "" || e.Value == "" || seen[e.Key] {
				t.Fatalf("bad entry %q (empty or duplicate)", e)
			}
			if strings.ContainsRune(e.Key+e.Value, 0) || !utf8.ValidString(e.Key+e.Value) {
				t.Fatalf("entry %q holds a NUL or invalid UTF-8 (postmap ends a line at NUL)", e)
			}
			seen[e.Key] = true
			if FoldKey(e.Key) != e.Key {
				t.Fatalf("key %q not folded", e.Key)
			}
			if strings.TrimSpace(e.Value) != e.Value && strings.TrimFunc(e.Value, func(r rune) bool { return r < 0x80 && isSpace(byte(r)) }) != e.Value {
				t.Fatalf("value %q not trimmed", e.Value)
			}
			b.WriteString(e.Key + " " + e.Value + "\n")
		}
		again, w, err := ParseText(strings.NewReader(b.String()), "f", ParseOptions{})
		if err != nil || !slices.Equal(again, entries) {
			t.Fatalf("re-parse differs:\n%q\n%q (%v)", entries, again, err)
		}
		for _, x := range w {
			if !strings.Contains(x.Msg, "key: value") {
				t.Fatalf("re-parse warned: %v", x)
			}
		}
	})
}

// FuzzParseSpec: a spec that parses joins back to itself, and Open never
// panics on it.
func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"hash:/etc/postfix/x", "inline:{ a=b, { c = d e } }", "static:{x}", "cidr:", ":x", "a:b:c", "regexp:/nonexistent"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		typ, name, err := ParseSpec(spec)
		if err == nil && typ+":"+name != spec {
			t.Fatalf("ParseSpec(%q) = %q, %q", spec, typ, name)
		}
		if strings.HasPrefix(spec, "hash:") || strings.HasPrefix(spec, "texthash:") || strings.HasPrefix(spec, "cidr:") || strings.HasPrefix(spec, "regexp:") || strings.HasPrefix(spec, "cdb:") || strings.HasPrefix(spec, "unix:") {
			return // would read arbitrary files
		}
		tab, err := Open(context.Background(), spec, nil)
		if err != nil {
			if KindOf(err) != Config {
				t.Fatalf("Open(%q) error of kind %v", spec, KindOf(err))
			}
			return
		}
		if _, _, err := tab.Lookup(context.Background(), "key"); err != nil && KindOf(err) != Config {
			t.Fatal(err)
		}
	})
}

// FuzzCIDRTable: a cidr table that loads has only canonical networks, and
// a lookup returns either nothing or one of the table's values (or, for a
// source that is not UTF-8, ErrNonUTF8Value); only an IP address, without
// brackets, is ever found.
func FuzzCIDRTable(f *testing.F) {
	f.Add("10.0.0.0/8 ten\n!192.168.0.0/16 x\nif 172.16.0.0/12\n172.16.1.1 exact\nendif\n", "172.16.1.1")
	f.Add("[2001:db8::]/32 v6\n", "2001:db8::1")
	f.Fuzz(func(t *testing.T, src, key string) {
		p := filepath.Join(t.TempDir(), "t")
		os.WriteFile(p, []byte(src), 0o600)
		tab, err := Open(context.Background(), "cidr:"+p, nil)
		if err != nil {
			return
		}
		rules := tab.(CIDRTable).get().v
		values := map[string]bool{}
		for _, r := range rules {
			if r.prefix.Masked() != r.prefix {
				t.Fatalf("non-canonical network %v accepted", r.prefix)
			}
			values[r.value] = true
		}
		v, ok, err := tab.Lookup(context.Background(), key)
		if err != nil && (!errors.Is(err, ErrNonUTF8Value) || utf8.ValidString(src)) || ok && !values[v] {
			t.Fatalf("Lookup(%q) = %q, %v, %v", key, v, ok, err)
		}
		if _, perr := netip.ParseAddr(key); perr != nil && ok {
			t.Fatalf("non-address key %q found", key)
		}
	})
}

// FuzzRegexpTable: loading never panics; a table that loads answers every
// key, or fails it only with the Config errors Postfix gives: an empty
// result (a rule without one, or $n of an empty group) or a non-UTF-8
// result (then the source is not valid UTF-8).
func FuzzRegexpTable(f *testing.F) {
	f.Add("/^(.*)@sub\\.(example\\.com)$/ relay:[$1.$2]\nif !/^x/\n/y/ ${1}\nendif\n", "user@sub.example.com")
	f.Add("!/a/ $$\n/(b)/i $1$1\n", "B")
	f.Fuzz(func(t *testing.T, src, key string) {
		p := filepath.Join(t.TempDir(), "t")
		os.WriteFile(p, []byte(src), 0o600)
		tab, err := Open(context.Background(), "regexp:"+p, nil)
		if err != nil {
			if KindOf(err) != Config {
				t.Fatalf("load error of kind %v", KindOf(err))
			}
			return
		}
		_, _, err = tab.Lookup(context.Background(), key)
		switch {
		case err == nil:
		case KindOf(err) != Config:
			t.Fatalf("lookup error of kind %v: %v", KindOf(err), err)
		case errors.Is(err, ErrEmptyValue):
		case errors.Is(err, ErrNonUTF8Value) && !utf8.ValidString(src):
		default:
			t.Fatal(err)
		}
	})
}

// FuzzParseList: a list of literal names that parses matches each of its
// (non-negated, non-network) names in both styles.
func FuzzParseList(f *testing.F) {
	f.Add("example.com, !bad.example.com .dot.example #x")
	f.Add("127.0.0.0/8 [::1]/128")
	f.Fuzz(func(t *testing.T, value string) {
		if strings.ContainsAny(value, "/:") {
			return // files and tables: not for a fuzzer
		}
		for _, parent := range []bool{true, false} {
			l, _, err := ParseList(context.Background(), value, ListOptions{ParentStyle: parent})
			if err != nil {
				return
			}
			for _, it := range l.items {
				if it.negate || it.isNet || it.pattern == "" || strings.HasSuffix(it.pattern, ".") {
					continue
				}
				m, err := l.MatchDomain(context.Background(), it.pattern)
				if err != nil {
					t.Fatal(err)
				}
				// It matches unless an earlier pattern decided first.
				if !m && !earlierNegation(l, it.pattern) {
					t.Fatalf("list %q (parent=%v) does not match its own name %q", value, parent, it.pattern)
				}
			}
		}
	})
}

func earlierNegation(l *List, name string) bool {
	for _, it := range l.items {
		if it.pattern == name && !it.negate {
			return false
		}
		if it.negate {
			if m, _ := (&List{parent: l.parent, items: []listItem{{pattern: it.pattern}}}).MatchDomain(context.Background(), name); m {
				return true
			}
		}
	}
	return false
}
