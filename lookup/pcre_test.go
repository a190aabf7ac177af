package lookup

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxrelay/mxrelay/internal/testenv"
)

// Constructs that regexp2 reads otherwise than PCRE, or cannot run, fail
// the table with an error that names them.
func TestPCRERefused(t *testing.T) {
	for pattern, want := range map[string]string{
		`/a$(?m)/E`:      `flag E with an inline (?m) is not supported`,
		`/\h/`:           `\h is not supported`,
		`/\v/`:           `\v is not supported`,
		`/\R/`:           `\R is not supported`,
		`/a\Kb/`:         `\K is not supported`,
		`/(a)\g1/`:       `\g is not supported`,
		`/\x{100}/`:      `\x{100} is not a byte`,
		`/[\D]/`:         `\D inside [...] is not supported`,
		`/[[:^alpha:]]/`: `[:^alpha:] is not supported`,
		`/[a-[b]]/`:      `class subtraction`,
		`/(?<a-b>x)/`:    `balancing groups`,
		`/(a|(?R))/`:     `recursion and subroutine calls`,
		`/(a)(?1)/`:      `recursion and subroutine calls`,
		`/(?&n)/`:        `recursion and subroutine calls`,
		`/(?|a|b)/`:      `branch reset`,
		`/(*UTF)é/`:      `backtracking verbs`,
		`/(?C1)a/`:       `callouts`,
		`/(?(<n>)a|b)/`:  `conditions other than`,
		`/(?U)a+/`:       `inline option 'U' is not supported`,
		`/é/`:            `non-ASCII character in a case-insensitive pattern`,
		`/\xe9/`:         `non-ASCII character in a case-insensitive pattern`,
		`/(?i)é/i`:       `non-ASCII character in a case-insensitive pattern`,
		`/\i/`:           `\i is not a PCRE escape`,
		`/\k{n}/`:        `\k{name} is not supported`,
		`/[a/`:           `missing terminating ]`,
	} {
		path := filepath.Join(t.TempDir(), "t.pcre")
		os.WriteFile(path, []byte(pattern+" x\n"), 0o644)
		_, err := Open(context.Background(), "pcre:"+path, nil)
		if err == nil || !strings.Contains(err.Error(), want) || KindOf(err) != Config {
			t.Errorf("%s: Open = %v; want a Config error saying %q", pattern, err, want)
		}
	}
}

// A match that backtracks catastrophically is a Temporary error (451),
// never "not found" and never a stuck SMTP session.
func TestPCRERunawayMatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.pcre")
	os.WriteFile(path, []byte("/^(a*)*b$/ x\n/^ok$/ fine\n"), 0o644)
	tab, err := Open(context.Background(), "pcre:"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, found, err := tab.Lookup(context.Background(), strings.Repeat("a", 64))
	if found || KindOf(err) != Temporary {
		t.Errorf("runaway match: found %v, error %v; want a Temporary error", found, err)
	}
	if v, ok, err := tab.Lookup(context.Background(), "ok"); v != "fine" || !ok || err != nil {
		t.Errorf("Lookup(ok) = %q, %v, %v", v, ok, err)
	}
}

// pcre: keys are not folded and a pcre: table is a pattern table: a list
// asks it for the name only, not its parents.
func TestPCREIsPatternTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.pcre")
	os.WriteFile(path, []byte("/^Mixed\\.example$/i ok\n/^example$/ parent\n"), 0o644)
	tab, err := Open(context.Background(), "pcre:"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if Folded(tab) != tab {
		t.Error("Folded wraps a pcre: table")
	}
	if !IsPattern(tab) {
		t.Error("a pcre: table is not a pattern table")
	}
	if _, ok, _ := tab.Lookup(context.Background(), "Mixed.example"); !ok {
		t.Error("case-sensitive rule did not match the key as given")
	}
}

// The E flag: "$" matches only at the very end, not before a final
// newline; without it, also before one. Compared with postmap -q on keys
// that end in a newline (the golden files hold one key per line).
func TestPCREDollarEndOnlyAgainstPostmap(t *testing.T) {
	postmap := testenv.NeedProgram(t, "postmap")
	path, _ := filepath.Abs("testdata/postmapq/pat.pcre")
	tab, err := Open(context.Background(), "pcre:"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	env := testenv.PostfixEnv(t)
	for _, k := range []string{"end\n", "endm\n", "end"} {
		want := testenv.PostmapQuery(t, postmap, env, "pcre:"+path, k)
		v, found, err := tab.Lookup(context.Background(), k)
		if got := (testenv.Answer{Value: v, Found: found, Failed: err != nil}); got != want {
			t.Errorf("key %q: we answer %+v, postmap -q %+v", k, got, want)
		}
	}
}

// The pattern table types, as Postfix flags them.
func TestIsPattern(t *testing.T) {
	for spec, want := range map[string]bool{
		"pcre:testdata/postmapq/pat.pcre":    true,
		"regexp:testdata/postmapq/re.regexp": true,
		"cidr:testdata/postmapq/nets.cidr":   true,
		"tcp:127.0.0.1:9":                    true,
		"socketmap:inet:127.0.0.1:9:m":       true,
		"hash:testdata/postmapq/src.hash":    false,
		"inline:{a=b}":                       false,
		"static:x":                           false,
	} {
		tab, err := Open(context.Background(), spec, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := IsPattern(tab); got != want {
			t.Errorf("IsPattern(%s) = %v, want %v", spec, got, want)
		}
		Close(tab)
	}
}
