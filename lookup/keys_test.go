package lookup

import (
	"slices"
	"testing"
)

func keyStrings(keys []Key) []string {
	var s []string
	for _, k := range keys {
		s = append(s, k.Key)
	}
	return s
}

func TestSplitExtension(t *testing.T) {
	for _, c := range []struct {
		local, delims string
		owner         bool
		base, ext     string
	}{
		{"user+a+b", "+", false, "user", "+a+b"},
		{"user+a", "", false, "user+a", ""},
		{"+x", "+", false, "+x", ""},
		{"postmaster+x", "+", false, "postmaster", "+x"}, // only the exact name is special
		{"owner-", "-", false, "owner-", ""},
		{"Postmaster", "+", false, "Postmaster", ""},
		{"MAILER-DAEMON", "-", false, "MAILER-DAEMON", ""},
		{"double-bounce", "-", false, "double-bounce", ""},
		{"owner-list", "-", false, "owner-list", ""},
		{"list-request", "-", false, "list-request", ""},
		{"owner-list", "-", true, "owner", "-list"},
		{"owner-list", "+-", false, "owner-list", ""},
		{"owner+list", "+", false, "owner", "+list"},
		{"a-b+c", "+-", false, "a", "-b+c"},
		{"user", "+", false, "user", ""},
		{"user+", "+", false, "user", "+"},
	} {
		b, e := SplitExtension(c.local, c.delims, c.owner)
		if b != c.base || e != c.ext {
			t.Errorf("SplitExtension(%q, %q, %v) = %q, %q; want %q, %q", c.local, c.delims, c.owner, b, e, c.base, c.ext)
		}
	}
}

func TestKeyOrders(t *testing.T) {
	local := func(d string) bool { return d == "mx.example.net" }
	plus := KeyOptions{Delimiters: "+"}
	dash := KeyOptions{Delimiters: "-"}
	parent := KeyOptions{Delimiters: "+", ParentStyle: true}
	here := KeyOptions{Delimiters: "+", LocalDomain: func(d string) bool { return d == "here.example" }}
	for _, c := range []struct {
		name string
		fn   func([]Key, string, KeyOptions) []Key
		addr string
		o    KeyOptions
		want []string
	}{
		{"transport_maps", AppendTransportKeys, "user+ext@a.b.rel.example", plus,
			[]string{"user+ext@a.b.rel.example", "user@a.b.rel.example", "a.b.rel.example", ".b.rel.example", ".rel.example", ".example", "*"}},
		{"transport_maps parent style", AppendTransportKeys, "u@b.rel.example", KeyOptions{ParentStyle: true},
			[]string{"u@b.rel.example", "b.rel.example", "rel.example", "example", "*"}},
		{"transport_maps no extension configured", AppendTransportKeys, "user+ext@rel.example", KeyOptions{},
			[]string{"user+ext@rel.example", "rel.example", ".example", "*"}},
		{"access", AppendAccessKeys, "user+ext@sub.parent.example", KeyOptions{Delimiters: "+", ParentStyle: true},
			[]string{"user+ext@sub.parent.example", "user@sub.parent.example", "sub.parent.example", "parent.example", "example", "user+ext@", "user@"}},
		{"access no ext", AppendAccessKeys, "baduser@open.example", KeyOptions{ParentStyle: true},
			[]string{"baduser@open.example", "open.example", "example", "baduser@"}},
		{"recipient", AppendRecipientKeys, "user1+ext@backup.example", plus,
			[]string{"user1+ext@backup.example", "user1@backup.example", "@backup.example"}},
		{"recipient local domain", AppendRecipientKeys, "u+x@mx.example.net", KeyOptions{Delimiters: "+", LocalDomain: local},
			[]string{"u+x@mx.example.net", "u@mx.example.net", "u+x", "u", "@mx.example.net"}},
		{"recipient trailing dot", AppendRecipientKeys, "plain@BACKUP.EXAMPLE.", KeyOptions{},
			[]string{"plain@BACKUP.EXAMPLE", "@BACKUP.EXAMPLE"}},
		{"recipient quoted first", AppendRecipientKeys, "a b@d.example", KeyOptions{},
			[]string{`"a b"@d.example`, "a b@d.example", "@d.example"}},
		{"recipient special not split", AppendRecipientKeys, "postmaster@d.example", plus,
			[]string{"postmaster@d.example", "@d.example"}},
		{"recipient leading delimiter", AppendRecipientKeys, "+x@d.example", plus,
			[]string{"+x@d.example", "@d.example"}},
		{"literal has no parents", AppendTransportKeys, "u@[192.0.2.1]", KeyOptions{},
			[]string{"u@[192.0.2.1]", "[192.0.2.1]", "*"}},
		// Odd inputs, each derived by hand from Postfix 3.7's code
		// (split_addr.c, quote_822_local.c, mail_addr_find.c, smtpd_check.c
		// check_mail_access and check_domain_access, transport.c).
		// Empty localpart: quote_822_local quotes it ("" is not a dot-string).
		{"recipient @domain only", AppendRecipientKeys, "@d.example", plus,
			[]string{`""@d.example`, "@d.example", "@d.example"}},
		{"transport_maps @domain only", AppendTransportKeys, "@d.example", plus,
			[]string{`""@d.example`, "@d.example", "d.example", ".example", "*"}},
		{"access @domain only", AppendAccessKeys, "@d.example", parent,
			[]string{`""@d.example`, "@d.example", "d.example", "example", `""@`, "@"}},
		// Several '@': the domain is after the last one, the rest is the
		// localpart and needs quotes.
		{"recipient two @", AppendRecipientKeys, "a@b@d.example", plus,
			[]string{`"a@b"@d.example`, "a@b@d.example", "@d.example"}},
		// Delimiter at the start: not split; at the end: split to user.
		{"recipient delimiter first", AppendRecipientKeys, "+x@d.example", plus,
			[]string{"+x@d.example", "@d.example"}},
		{"recipient delimiter last", AppendRecipientKeys, "user+@d.example", plus,
			[]string{"user+@d.example", "user@d.example", "@d.example"}},
		{"recipient several delimiters", AppendRecipientKeys, "a-b+c@d.example", KeyOptions{Delimiters: "+-"},
			[]string{"a-b+c@d.example", "a@d.example", "@d.example"}},
		{"access two delimiter chars, first wins", AppendAccessKeys, "u+a-b@d.example", KeyOptions{Delimiters: "-+", ParentStyle: true},
			[]string{"u+a-b@d.example", "u@d.example", "d.example", "example", "u+a-b@", "u@"}},
		// owner-/-request are special only with '-' among the delimiters.
		{"recipient owner- with -", AppendRecipientKeys, "owner-list@d.example", dash,
			[]string{"owner-list@d.example", "@d.example"}},
		{"recipient -request with -", AppendRecipientKeys, "list-request@d.example", dash,
			[]string{"list-request@d.example", "@d.example"}},
		{"recipient owner+ with +", AppendRecipientKeys, "owner+x@d.example", plus,
			[]string{"owner+x@d.example", "owner@d.example", "@d.example"}},
		{"recipient postmaster never split", AppendRecipientKeys, "PostMaster@d.example", dash,
			[]string{"PostMaster@d.example", "@d.example"}},
		// Quoted forms first (mail_addr_find.c), for the address and for the base.
		{"recipient quoted localpart with extension", AppendRecipientKeys, "a b+x@d.example", plus,
			[]string{`"a b+x"@d.example`, "a b+x@d.example", `"a b"@d.example`, "a b@d.example", "@d.example"}},
		{"recipient local domain, quoted", AppendRecipientKeys, "a.@here.example", here,
			[]string{`"a."@here.example`, "a.@here.example", `"a."`, "a.", "@here.example"}},
		{"access dot-atom needs no quotes", AppendAccessKeys, "a.b@d.example", parent,
			[]string{"a.b@d.example", "d.example", "example", "a.b@"}},
		// Domains: Postfix's strchr(name + 1, '.') loop.
		{"transport_maps double dot", AppendTransportKeys, "u@a..b", KeyOptions{},
			[]string{"u@a..b", "a..b", "..b", ".b", "*"}},
		{"access double dot, parent style", AppendAccessKeys, "u@a..b", KeyOptions{ParentStyle: true},
			[]string{"u@a..b", "a..b", ".b", "u@"}},
		{"transport_maps leading dot", AppendTransportKeys, "u@.ex.com", KeyOptions{},
			[]string{"u@.ex.com", ".ex.com", ".com", "*"}},
		{"transport_maps trailing dot ignored once", AppendTransportKeys, "u@ex.com.", KeyOptions{},
			[]string{"u@ex.com", "ex.com", ".com", "*"}},
		{"transport_maps address literal", AppendTransportKeys, "u@[192.0.2.1]", KeyOptions{},
			[]string{"u@[192.0.2.1]", "[192.0.2.1]", "*"}},
	} {
		got := keyStrings(c.fn(nil, c.addr, c.o))
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: keys(%q) =\n %q\nwant\n %q", c.name, c.addr, got, c.want)
		}
	}
}

func TestQuoteLocal(t *testing.T) {
	for in, want := range map[string]string{
		"user": "user", "a.b": "a.b", "a b": `"a b"`, "a..b": `"a..b"`, ".a": `".a"`,
		`a"b`: `"a\"b"`, `a\b`: `"a\\b"`, "a@b": `"a@b"`, "": `""`, "üser": "üser",
	} {
		if got := QuoteLocal(in); got != want {
			t.Errorf("QuoteLocal(%q) = %q, want %q", in, got, want)
		}
		if got := UnquoteLocal(QuoteLocal(in)); got != in {
			t.Errorf("UnquoteLocal(QuoteLocal(%q)) = %q", in, got)
		}
	}
}

func TestKeyAllocs(t *testing.T) {
	buf := make([]Key, 0, 16)
	n := testing.AllocsPerRun(100, func() {
		buf = AppendRecipientKeys(buf[:0], "user1@backup.example", KeyOptions{Delimiters: "+"})
		buf = AppendAccessKeys(buf[:0], "user1@a.backup.example", KeyOptions{ParentStyle: true})
	})
	if n != 0 {
		t.Errorf("key derivation for plain addresses allocates %v times, want 0", n)
	}
}
