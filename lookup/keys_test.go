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
	for _, c := range []struct {
		name string
		fn   func([]Key, string, KeyOptions) []Key
		addr string
		o    KeyOptions
		want []string
	}{
		{"L2 transport", AppendTransportKeys, "user+ext@a.b.rel.example", plus,
			[]string{"user+ext@a.b.rel.example", "user@a.b.rel.example", "a.b.rel.example", ".b.rel.example", ".rel.example", ".example", "*"}},
		{"L2 transport parent style", AppendTransportKeys, "u@b.rel.example", KeyOptions{ParentStyle: true},
			[]string{"u@b.rel.example", "b.rel.example", "rel.example", "example", "*"}},
		{"L2 no extension configured", AppendTransportKeys, "user+ext@rel.example", KeyOptions{},
			[]string{"user+ext@rel.example", "rel.example", ".example", "*"}},
		{"L3 access", AppendAccessKeys, "user+ext@sub.parent.example", KeyOptions{Delimiters: "+", ParentStyle: true},
			[]string{"user+ext@sub.parent.example", "user@sub.parent.example", "sub.parent.example", "parent.example", "example", "user+ext@", "user@"}},
		{"L3 access no ext", AppendAccessKeys, "baduser@open.example", KeyOptions{ParentStyle: true},
			[]string{"baduser@open.example", "open.example", "example", "baduser@"}},
		{"L4 recipient", AppendRecipientKeys, "user1+ext@backup.example", plus,
			[]string{"user1+ext@backup.example", "user1@backup.example", "@backup.example"}},
		{"L4 recipient local domain", AppendRecipientKeys, "u+x@mx.example.net", KeyOptions{Delimiters: "+", LocalDomain: local},
			[]string{"u+x@mx.example.net", "u@mx.example.net", "u+x", "u", "@mx.example.net"}},
		{"L4 trailing dot", AppendRecipientKeys, "plain@BACKUP.EXAMPLE.", KeyOptions{},
			[]string{"plain@BACKUP.EXAMPLE", "@BACKUP.EXAMPLE"}},
		{"L7 quoted first", AppendRecipientKeys, "a b@d.example", KeyOptions{},
			[]string{`"a b"@d.example`, "a b@d.example", "@d.example"}},
		{"L4 special not split", AppendRecipientKeys, "postmaster@d.example", plus,
			[]string{"postmaster@d.example", "@d.example"}},
		{"L4 leading delimiter", AppendRecipientKeys, "+x@d.example", plus,
			[]string{"+x@d.example", "@d.example"}},
		{"literal has no parents", AppendTransportKeys, "u@[192.0.2.1]", KeyOptions{},
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
