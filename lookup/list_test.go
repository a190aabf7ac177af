package lookup

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// How Postfix 3.7's trivial-rewrite classified domains under
// "relay_domains = lit.example, .dot.example, hash:relaydoms", first with
// the default parent_domain_matches_subdomains (which lists relay_domains),
// then with it empty. In parent style a literal ".dot.example" matches
// nothing, because match_ops.c only tests whether the pattern is a
// dot-separated suffix of the name.
func TestListParentAndDotStyle(t *testing.T) {
	ctx := context.Background()
	tab := writeFile(t, "relaydoms", "tab.example x\n")
	value := "lit.example, .dot.example, hash:" + tab
	cases := []struct {
		domain              string
		parentStyle, dotSty bool
	}{
		{"lit.example", true, true},
		{"sub.lit.example", true, false},
		{"x.dot.example", false, true},
		{"dot.example", false, false},
		{"tab.example", true, true},
		{"sub.tab.example", true, false},
		{"LIT.EXAMPLE.", true, true},
		{"unrelated.example", false, false},
		{"xlit.example", false, false},
	}
	for _, parent := range []bool{true, false} {
		l, w, err := ParseList(ctx, value, ListOptions{Name: "relay_domains", ParentStyle: parent})
		if err != nil || len(w) != 0 {
			t.Fatal(err, w)
		}
		for _, c := range cases {
			want := c.dotSty
			if parent {
				want = c.parentStyle
			}
			got, err := l.MatchDomain(ctx, c.domain)
			if err != nil || got != want {
				t.Errorf("parent=%v MatchDomain(%q) = %v, %v; want %v", parent, c.domain, got, err, want)
			}
		}
	}
}

func TestListNegationFileAndComment(t *testing.T) {
	ctx := context.Background()
	f := writeFile(t, "doms", "# comment\nfile.example\n  other.example second.example\n")
	l, w, err := ParseList(ctx, "!bad.example.com, example.com "+f+" #ends here, never.example", ListOptions{Name: "relay_domains", ParentStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(w) != 1 || !strings.Contains(w[0].Msg, "comment at end of line is not supported") {
		t.Errorf("warnings = %v", w)
	}
	for d, want := range map[string]bool{
		"bad.example.com": false, "x.bad.example.com": false, "good.example.com": true,
		"file.example": true, "second.example": true, "never.example": false,
	} {
		if got, _ := l.MatchDomain(ctx, d); got != want {
			t.Errorf("MatchDomain(%q) = %v, want %v", d, got, want)
		}
	}
}

func TestListErrors(t *testing.T) {
	ctx := context.Background()
	for _, v := range []string{"192.0.2.1/24", "/nonexistent/file", "nosuch:table", "hash:/nonexistent"} {
		if _, _, err := ParseList(ctx, v, ListOptions{Name: "mynetworks"}); err == nil {
			t.Errorf("ParseList(%q) succeeded, want an error", v)
		}
	}
	_, _, err := ParseList(ctx, "192.0.2.1/24", ListOptions{Name: "mynetworks"})
	if !strings.Contains(err.Error(), `perhaps you should use "192.0.2.0/24" instead`) {
		t.Errorf("host-bits error = %v", err)
	}
	// A table that fails makes the match fail, not "no match".
	l := &List{name: "relay_domains", items: []listItem{{table: TableFunc(func(context.Context, string) (string, bool, error) {
		return "", false, &Error{Kind: Temporary, Err: os.ErrDeadlineExceeded}
	})}}}
	if _, err := l.MatchDomain(ctx, "x.example"); KindOf(err) != Temporary {
		t.Errorf("table error: got %v, want a temporary error", err)
	}
}

func TestListMatchClient(t *testing.T) {
	ctx := context.Background()
	cidr := writeFile(t, "nets", "10.1.0.0/16 OK\n")
	l, _, err := ParseList(ctx, "127.0.0.0/8 [::1]/128 192.0.2.7 [2001:db8::]/32 !198.51.100.9 198.51.100.0/24 trusted.example cidr:"+cidr, ListOptions{Name: "mynetworks", ParentStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ip, name string
		want     bool
	}{
		{"127.0.0.1", "", true}, {"::1", "", true}, {"::2", "", false}, {"192.0.2.7", "", true},
		{"192.0.2.8", "", false}, {"2001:db8::5", "", true}, {"198.51.100.9", "", false},
		{"198.51.100.10", "", true}, {"203.0.113.1", "mx.trusted.example", true},
		{"203.0.113.1", "unknown", false}, {"10.1.2.3", "", true}, {"::ffff:127.0.0.1", "", true},
	} {
		got, err := l.MatchClient(ctx, netip.MustParseAddr(c.ip), c.name)
		if err != nil || got != c.want {
			t.Errorf("MatchClient(%s, %q) = %v, %v; want %v", c.ip, c.name, got, err, c.want)
		}
	}
}

func TestDomainsClass(t *testing.T) {
	ctx := context.Background()
	mk := func(v string, parent bool) *List {
		l, _, err := ParseList(ctx, v, ListOptions{ParentStyle: parent})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	d := &Domains{
		MyDestination:         mk("mx.example.net, localhost, both.example", false),
		VirtualAliasDomains:   mk("valias.example", false),
		VirtualMailboxDomains: mk("vmail.example", false),
		RelayDomains:          mk("backup.example, both.example, valias.example", true),
		Interfaces:            []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("2001:db8::25")},
	}
	for dom, want := range map[string]Class{
		"mx.example.net": ClassLocal, "both.example": ClassLocal, "valias.example": ClassAlias,
		"vmail.example": ClassVirtual, "backup.example": ClassRelay, "sub.backup.example": ClassRelay,
		"BACKUP.EXAMPLE.": ClassRelay, "elsewhere.example": ClassDefault, "[127.0.0.1]": ClassLocal,
		"[192.0.2.1]": ClassDefault, "[ipv6:2001:db8::25]": ClassLocal, "": ClassLocal,
	} {
		if got, err := d.Class(ctx, dom); err != nil || got != want {
			t.Errorf("Class(%q) = %v, %v; want %v", dom, got, err, want)
		}
	}
}

// A brace group is one list element, commas and blanks inside it
// included, as Postfix's mystrtokq splits parameter values: the inline
// table below must not fall apart into "inline:{" and stray words.
func TestListInlineTableWithCommas(t *testing.T) {
	ctx := context.Background()
	l, _, err := ParseList(ctx, "inline:{ a.example=OK, { b.example = OK } }, c.example", ListOptions{Name: "relay_domains"})
	if err != nil {
		t.Fatal(err)
	}
	for d, want := range map[string]bool{"a.example": true, "b.example": true, "c.example": true, "d.example": false} {
		if got, err := l.MatchDomain(ctx, d); err != nil || got != want {
			t.Errorf("MatchDomain(%s) = %v, %v; want %v", d, got, err, want)
		}
	}
	if _, _, err := ParseList(ctx, "inline:{ a.example=OK, c.example", ListOptions{Name: "relay_domains"}); err == nil {
		t.Error("an unbalanced brace was accepted")
	}
	for in, want := range map[string]string{
		"a, b\tc":               "a|b|c",
		"x:{ 1, 2 },y":          "x:{ 1, 2 }|y",
		" {a {b, c} d} , e ":    "{a {b, c} d}|e",
		"inline:{ a=1, b=2 } c": "inline:{ a=1, b=2 }|c",
		",,":                    "",
	} {
		if got := strings.Join(listTokens(in), "|"); got != want {
			t.Errorf("listTokens(%q) = %q; want %q", in, got, want)
		}
	}
}

// A mynetworks of prefixes alone is matched without allocating: it runs
// for every connection and every RCPT of a busy relay.
func TestListMatchClientNoAlloc(t *testing.T) {
	ctx := context.Background()
	l, _, err := ParseList(ctx, "127.0.0.0/8 [::1]/128 192.0.2.0/24", ListOptions{Name: "mynetworks"})
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("198.51.100.1")
	if n := testing.AllocsPerRun(100, func() {
		if ok, err := l.MatchClient(ctx, ip, ""); ok || err != nil {
			t.Fatal(ok, err)
		}
	}); n != 0 {
		t.Errorf("MatchClient allocates %v times per call", n)
	}
}

// An address literal in a domain list matches that literal domain, as in
// Postfix (checked with smtpd: relay_domains = [192.0.2.1] relays
// <u@[192.0.2.1]>), though the same text is also a network for
// MatchClient.
func TestListAddressLiteralDomain(t *testing.T) {
	ctx := context.Background()
	l, _, err := ParseList(ctx, "[192.0.2.1] 198.51.100.0/24 !203.0.113.7 example.com", ListOptions{Name: "relay_domains"})
	if err != nil {
		t.Fatal(err)
	}
	for d, want := range map[string]bool{
		"[192.0.2.1]": true, "[192.0.2.2]": false, "example.com": true,
		"[198.51.100.7]": false, "203.0.113.7": false,
	} {
		if got, err := l.MatchDomain(ctx, d); err != nil || got != want {
			t.Errorf("MatchDomain(%s) = %v, %v; want %v", d, got, err, want)
		}
	}
	if ok, _ := l.MatchClient(ctx, netip.MustParseAddr("192.0.2.1"), ""); !ok {
		t.Error("the literal no longer matches as a client address")
	}
}
