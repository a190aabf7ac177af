package lookup

import (
	"slices"
	"testing"
)

// TestKeyOrdersOddInputs: key orders for addresses at the edges of the
// syntax, each derived by hand from Postfix 3.7's code (split_addr.c,
// quote_822_local.c, mail_addr_find.c, smtpd_check.c check_mail_access and
// check_domain_access, transport.c).
func TestKeyOrdersOddInputs(t *testing.T) {
	plus := KeyOptions{Delimiters: "+"}
	dash := KeyOptions{Delimiters: "-"}
	parent := KeyOptions{Delimiters: "+", ParentStyle: true}
	local := KeyOptions{Delimiters: "+", LocalDomain: func(d string) bool { return d == "here.example" }}
	for _, c := range []struct {
		name string
		fn   func([]Key, string, KeyOptions) []Key
		addr string
		o    KeyOptions
		want []string
	}{
		// Empty localpart: quote_822_local quotes it ("" is not a dot-string).
		{"L4 @domain only", AppendRecipientKeys, "@d.example", plus,
			[]string{`""@d.example`, "@d.example", "@d.example"}},
		{"L2 @domain only", AppendTransportKeys, "@d.example", plus,
			[]string{`""@d.example`, "@d.example", "d.example", ".example", "*"}},
		{"L3 @domain only", AppendAccessKeys, "@d.example", parent,
			[]string{`""@d.example`, "@d.example", "d.example", "example", `""@`, "@"}},
		// Several '@': the domain is after the last one, the rest is the
		// localpart and needs quotes.
		{"L4 two @", AppendRecipientKeys, "a@b@d.example", plus,
			[]string{`"a@b"@d.example`, "a@b@d.example", "@d.example"}},
		// Delimiter at the start: not split; at the end: split to user.
		{"L4 delimiter first", AppendRecipientKeys, "+x@d.example", plus,
			[]string{"+x@d.example", "@d.example"}},
		{"L4 delimiter last", AppendRecipientKeys, "user+@d.example", plus,
			[]string{"user+@d.example", "user@d.example", "@d.example"}},
		{"L4 several delimiters", AppendRecipientKeys, "a-b+c@d.example", KeyOptions{Delimiters: "+-"},
			[]string{"a-b+c@d.example", "a@d.example", "@d.example"}},
		{"L3 two delimiter chars, first wins", AppendAccessKeys, "u+a-b@d.example", KeyOptions{Delimiters: "-+", ParentStyle: true},
			[]string{"u+a-b@d.example", "u@d.example", "d.example", "example", "u+a-b@", "u@"}},
		// owner-/-request are special only with '-' among the delimiters.
		{"L4 owner- with -", AppendRecipientKeys, "owner-list@d.example", dash,
			[]string{"owner-list@d.example", "@d.example"}},
		{"L4 -request with -", AppendRecipientKeys, "list-request@d.example", dash,
			[]string{"list-request@d.example", "@d.example"}},
		{"L4 owner+ with +", AppendRecipientKeys, "owner+x@d.example", plus,
			[]string{"owner+x@d.example", "owner@d.example", "@d.example"}},
		{"L4 postmaster never split", AppendRecipientKeys, "PostMaster@d.example", dash,
			[]string{"PostMaster@d.example", "@d.example"}},
		// Quoted forms first (L7), for the address and for the base.
		{"L4 quoted localpart with extension", AppendRecipientKeys, "a b+x@d.example", plus,
			[]string{`"a b+x"@d.example`, "a b+x@d.example", `"a b"@d.example`, "a b@d.example", "@d.example"}},
		{"L4 local domain, quoted", AppendRecipientKeys, "a.@here.example", local,
			[]string{`"a."@here.example`, "a.@here.example", `"a."`, "a.", "@here.example"}},
		{"L3 dot-atom needs no quotes", AppendAccessKeys, "a.b@d.example", parent,
			[]string{"a.b@d.example", "d.example", "example", "a.b@"}},
		// Domains: Postfix's strchr(name + 1, '.') loop.
		{"L2 double dot", AppendTransportKeys, "u@a..b", KeyOptions{},
			[]string{"u@a..b", "a..b", "..b", ".b", "*"}},
		{"L3 double dot, parent style", AppendAccessKeys, "u@a..b", KeyOptions{ParentStyle: true},
			[]string{"u@a..b", "a..b", ".b", "u@"}},
		{"L2 leading dot", AppendTransportKeys, "u@.ex.com", KeyOptions{},
			[]string{"u@.ex.com", ".ex.com", ".com", "*"}},
		{"L2 trailing dot ignored once", AppendTransportKeys, "u@ex.com.", KeyOptions{},
			[]string{"u@ex.com", "ex.com", ".com", "*"}},
		{"L2 address literal", AppendTransportKeys, "u@[192.0.2.1]", KeyOptions{},
			[]string{"u@[192.0.2.1]", "[192.0.2.1]", "*"}},
	} {
		got := keyStrings(c.fn(nil, c.addr, c.o))
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %q\n got %q\nwant %q", c.name, c.addr, got, c.want)
		}
	}
}

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
