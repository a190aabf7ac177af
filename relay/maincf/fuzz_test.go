package maincf

import (
	"errors"
	"strings"
	"testing"
)

// FuzzMainCF checks that any main.cf parses without panic, that every
// parameter it sets is found again with Raw (the last value wins), and
// that expansion terminates and never leaves a "$name" reference to a
// known parameter behind, and that Classify sorts every parameter.
func FuzzMainCF(f *testing.F) {
	for _, s := range []string{
		"a = 1\nb = $a\n",
		"relay_domains = ${a?{x}:{y}} $$ ${{$a} <level {2} ? {p} : {q}}\n  cont\n",
		" orphan\n# c\nx=\n",
		"a = $b\nb = $a\nrelayhost = ${a}${b}$(a)\n",
		"relayhost = ${{1} == {1} ? {${{2} < {3} ? {deep} : {no}}} : {n}}\n",
		"relayhost = ${unbalanced\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		c, err := Parse(strings.NewReader(src), "fuzz.cf")
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) && !strings.Contains(err.Error(), "too long") {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		for _, n := range c.Names() {
			if _, ok := c.Raw(n); !ok {
				t.Fatalf("name %q listed but not set", n)
			}
			if n == "" || strings.ContainsAny(n, blanks+"=") {
				t.Fatalf("bad name %q accepted", n)
			}
			_ = c.Get(n)
		}
		for name := range used {
			v := c.Get(name)
			for _, ref := range paramRefs(v) {
				if _, known := postfixDefaults[ref]; known && strings.Contains(v, "$"+ref) && !strings.Contains(src, "$$") {
					t.Fatalf("%s = %q still refers to $%s", name, v, ref)
				}
			}
		}
		params := c.Classify()
		if len(params) != len(c.Names()) {
			t.Fatalf("Classify returned %d parameters for %d set", len(params), len(c.Names()))
		}
		for _, p := range params {
			if p.Kind < Used || p.Kind > Unknown {
				t.Fatalf("%s: kind %v", p.Name, p.Kind)
			}
		}
	})
}
