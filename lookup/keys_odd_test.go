package lookup

import (
	"testing"
)

// TestSplitExtensionASCIIFold: Postfix compares postmaster, mailer-daemon,
// owner- and -request with strcasecmp (ASCII only).
func TestSplitExtensionASCIIFold(t *testing.T) {
	for _, c := range []struct{ local, delims, base string }{
		{"poſtmaster+x", "+", "poſtmaster"}, // long s is not s
		{"list-requeſt", "-", "list"},
		{"OWNER-list", "-", "OWNER-list"},
		{"List-REQUEST", "-", "List-REQUEST"},
		{"-request", "-", "-request"}, // not longer than 8: not special, but a leading delimiter
	} {
		if b, _ := SplitExtension(c.local, c.delims, false); b != c.base {
			t.Errorf("SplitExtension(%q, %q) base %q, want %q", c.local, c.delims, b, c.base)
		}
	}
}

// TestQuoteForms: quote_822_local and unquote_822_local.
func TestQuoteForms(t *testing.T) {
	for _, c := range []struct{ internal, external string }{
		{"user", "user"},
		{"", `""`},
		{"a b", `"a b"`},
		{`a"b`, `"a\"b"`},
		{`a\b`, `"a\\b"`},
		{"a\rb", "\"a\\\rb\""},
		{".a", `".a"`},
		{"a..b", `"a..b"`},
		{"a.", `"a."`},
		{"üser", "üser"}, // 8-bit clean
	} {
		if got := QuoteLocal(c.internal); got != c.external {
			t.Errorf("QuoteLocal(%q) = %q, want %q", c.internal, got, c.external)
		}
		if got := UnquoteLocal(c.external); got != c.internal {
			t.Errorf("UnquoteLocal(%q) = %q, want %q", c.external, got, c.internal)
		}
	}
	for ext, want := range map[string]string{
		`"a b".c`: "a b.c", // quotes anywhere are removed
		`a\ b`:    "a b",
		`"a`:      "a",
		`a\`:      "a",
	} {
		if got := UnquoteLocal(ext); got != want {
			t.Errorf("UnquoteLocal(%q) = %q, want %q", ext, got, want)
		}
	}
}
