package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/mxrelay/mxrelay/policy"
)

// This file is the example: how to unit-test a relay policy. Copy it next
// to your own main.cf, change the table, run "go test". Each case is one
// RCPT TO and the exact reply the server must give; the replies were
// checked against a real Postfix 3.7.11 smtpd running the same main.cf
// (see README.md).

// The clients of the tests.
var (
	stranger  = netip.MustParseAddr("203.0.113.7")    // anyone on the Internet
	trusted   = netip.MustParseAddr("192.0.2.10")     // in mynetworks
	trusted6  = netip.MustParseAddr("2001:db8:2::25") // in mynetworks ([2001:db8:2::]/48)
	loopback  = netip.MustParseAddr("127.0.0.1")      // in mynetworks
	blocked   = netip.MustParseAddr("198.51.100.23")  // in client_access: REJECT
	throttled = netip.MustParseAddr("203.0.113.66")   // in client_access: DEFER
)

type rcptCase struct {
	name     string
	client   netip.Addr
	sender   string
	rcpt     string
	code     int
	enhanced string
	text     string // the reply text after the codes; "" for a 250
}

// cases is the policy's specification.
var cases = []rcptCase{
	// A backup MX accepts mail for the recipients that exist behind it,
	// and refuses the others at RCPT, so that it never has to bounce
	// (backscatter).
	{"listed recipient", stranger, "<a@sender.example>", "<alice@example.com>", 250, "2.1.5", ""},
	{"listed recipient, case folded", stranger, "<a@sender.example>", "<Alice@EXAMPLE.com>", 250, "2.1.5", ""},
	{"address extension", stranger, "<a@sender.example>", "<alice+lists@example.com>", 250, "2.1.5", ""},
	{"postmaster", stranger, "<a@sender.example>", "<postmaster@example.com>", 250, "2.1.5", ""},
	{"unlisted recipient", stranger, "<a@sender.example>", "<carol@example.com>", 550, "5.1.1",
		"<carol@example.com>: Recipient address rejected: User unknown in relay recipient table"},
	{"unlisted, extension kept in reply", stranger, "<a@sender.example>", "<carol+x@example.com>", 550, "5.1.1",
		"<carol+x@example.com>: Recipient address rejected: User unknown in relay recipient table"},
	{"catch-all domain", stranger, "<a@sender.example>", "<anyone@example.org>", 250, "2.1.5", ""},
	// relay_domains matches subdomains (parent_domain_matches_subdomains),
	// but nobody there is in relay_recipients.
	{"subdomain of a relay domain", stranger, "<a@sender.example>", "<alice@sub.example.com>", 550, "5.1.1",
		"<alice@sub.example.com>: Recipient address rejected: User unknown in relay recipient table"},
	{"bounce (null sender)", stranger, "<>", "<alice@example.com>", 250, "2.1.5", ""},
	// Trusted clients relay anywhere, but still cannot reach unknown
	// recipients of the relay domains (the implicit
	// reject_unlisted_recipient runs for everyone).
	{"trusted client relays out", trusted, "<me@example.com>", "<friend@elsewhere.example>", 250, "2.1.5", ""},
	{"trusted IPv6 client relays out", trusted6, "<me@example.com>", "<friend@elsewhere.example>", 250, "2.1.5", ""},
	{"loopback relays out", loopback, "<me@example.com>", "<friend@elsewhere.example>", 250, "2.1.5", ""},
	{"trusted client, unlisted recipient", trusted, "<me@example.com>", "<carol@example.com>", 550, "5.1.1",
		"<carol@example.com>: Recipient address rejected: User unknown in relay recipient table"},

	// Open relay attempts: none of them may pass.
	{"other domain", stranger, "<a@sender.example>", "<victim@elsewhere.example>", 554, "5.7.1",
		"<victim@elsewhere.example>: Relay access denied"},
	{"other domain, trailing dot", stranger, "<a@sender.example>", "<victim@elsewhere.example.>", 554, "5.7.1",
		"<victim@elsewhere.example.>: Relay access denied"},
	{"relay domain as a prefix", stranger, "<a@sender.example>", "<victim@example.com.elsewhere.example>", 554, "5.7.1",
		"<victim@example.com.elsewhere.example>: Relay access denied"},
	{"percent hack", stranger, "<a@sender.example>", "<victim%elsewhere.example@example.com>", 554, "5.7.1",
		"<victim%elsewhere.example@example.com>: Relay access denied"},
	{"bang path", stranger, "<a@sender.example>", "<elsewhere.example!victim@example.com>", 554, "5.7.1",
		"<elsewhere.example!victim@example.com>: Relay access denied"},
	{"quoted @ in localpart", stranger, "<a@sender.example>", `<"victim@elsewhere.example"@example.com>`, 554, "5.7.1",
		"<victim@elsewhere.example@example.com>: Relay access denied"},
	{"source route", stranger, "<a@sender.example>", "<@example.com:victim@elsewhere.example>", 554, "5.7.1",
		"<victim@elsewhere.example>: Relay access denied"},
	{"address literal", stranger, "<a@sender.example>", "<victim@[192.0.2.99]>", 554, "5.7.1",
		"<victim@[192.0.2.99]>: Relay access denied"},
	{"sender in a relay domain", stranger, "<alice@example.com>", "<victim@elsewhere.example>", 554, "5.7.1",
		"<victim@elsewhere.example>: Relay access denied"},

	// Spam control applies to trusted clients too: permit_mynetworks in
	// smtpd_relay_restrictions ends only that list.
	{"blocked sender domain", stranger, "<x@spammer.example>", "<alice@example.com>", 554, "5.7.1",
		"<x@spammer.example>: Sender address rejected: Sender blocked, see https://example.com/policy"},
	{"blocked sender subdomain", stranger, "<x@mail.spammer.example>", "<alice@example.com>", 554, "5.7.1",
		"<x@mail.spammer.example>: Sender address rejected: Sender blocked, see https://example.com/policy"},
	{"blocked sender, trusted client", trusted, "<x@spammer.example>", "<friend@elsewhere.example>", 554, "5.7.1",
		"<x@spammer.example>: Sender address rejected: Sender blocked, see https://example.com/policy"},
	{"blocked sender address", stranger, "<newsletter@marketing.example>", "<alice@example.com>", 554, "5.7.1",
		"<newsletter@marketing.example>: Sender address rejected: Access denied"},
	{"other sender of that domain", stranger, "<ceo@marketing.example>", "<alice@example.com>", 250, "2.1.5", ""},
	{"blocked network", blocked, "<a@sender.example>", "<alice@example.com>", 554, "5.7.1",
		"<unknown[198.51.100.23]>: Client host rejected: Your network is on our blocklist"},
	{"throttled client", throttled, "<a@sender.example>", "<alice@example.com>", 450, "4.7.1",
		"<unknown[203.0.113.66]>: Client host rejected: Too many connections, try again later"},

	// Garbage is a syntax error, not a reason to relay.
	{"bad recipient syntax", stranger, "<a@sender.example>", "<alice@example..com>", 501, "5.1.3",
		"Bad recipient address syntax"},
}

// checkCases runs every case against p.
func checkCases(t *testing.T, p *policy.Policy) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := CheckRcpt(t.Context(), p, c.client, "client.example", c.sender, c.rcpt)
			if d.Code != c.code || d.Enhanced != c.enhanced || (c.code != 250 && d.Text != c.text) {
				t.Errorf("%s from %s, MAIL FROM:%s, RCPT TO:%s:\n got %s\nwant %d %s %s\n(decided by %s)",
					c.name, c.client, c.sender, c.rcpt, d.Reply(), c.code, c.enhanced, c.text, d.Reason)
			}
			// The verdict must agree with the code: a 2xx is the only
			// answer that lets mail in.
			if want := verdictOf(c.code); d.Verdict != want {
				t.Errorf("verdict %v, want %v", d.Verdict, want)
			}
		})
	}
}

func verdictOf(code int) policy.Verdict {
	switch code / 100 {
	case 2:
		return policy.Permit
	case 4:
		return policy.Defer
	}
	return policy.Reject
}

func loadMainCF(t testing.TB) *Policy {
	t.Helper()
	p, err := LoadPolicy(context.Background(), "main.cf")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestMainCF tests the policy of main.cf, as mxrelayd -config main.cf runs it.
func TestMainCF(t *testing.T) {
	checkCases(t, loadMainCF(t).Policy)
}

// TestNoTraps fails when main.cf has a configuration trap that Load
// warns of: a relay domain that is also local, an empty
// relay_recipient_maps, a permissive restriction before the relay check,
// an undefined $name...
func TestNoTraps(t *testing.T) {
	if w := loadMainCF(t).Warnings; len(w) > 0 {
		t.Errorf("main.cf has warnings:\n%s", strings.Join(w, "\n"))
	}
}

// goConfig is the same policy for a server that embeds package policy
// directly: the main.cf parameters are Config fields, tables are written
// inline (or supplied as Go values in Config.Tables).
func goConfig() policy.Config {
	return policy.Config{
		MyHostname:                 "mx2.example.net",
		InetInterfaces:             "192.0.2.2",
		MyNetworks:                 "127.0.0.0/8, 192.0.2.0/24, [2001:db8:2::]/48",
		RelayDomains:               "example.com, example.org",
		RelayRecipientMaps:         "inline:{ alice@example.com=OK, bob@example.com=OK, postmaster@example.com=OK, @example.org=OK }",
		RecipientDelimiter:         "+",
		SMTPDRelayRestrictions:     "permit_mynetworks, reject_unauth_destination",
		SMTPDRecipientRestrictions: "check_client_access cidr:client_access, check_sender_access inline:{ {spammer.example = REJECT Sender blocked, see https://example.com/policy}, newsletter@marketing.example=REJECT }",
	}
}

// TestGoConfig runs the same specification against the Go-written policy.
func TestGoConfig(t *testing.T) {
	p, err := policy.New(t.Context(), goConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if w := p.Warnings(); len(w) > 0 {
		t.Errorf("warnings: %v", w)
	}
	checkCases(t, p)
}

// TestWhyAccepted shows how to assert not only the reply but what decided
// it: alice is accepted because relay_recipients lists her, not because
// of some broader rule that would also let strangers in.
func TestWhyAccepted(t *testing.T) {
	p := loadMainCF(t)
	d := p.CheckRcpt(t.Context(), stranger, "client.example", "<a@sender.example>", "<alice+news@example.com>")
	if d.Verdict != policy.Permit || d.Reason.Restriction != "reject_unlisted_recipient" ||
		d.Reason.Table != "relay_recipient_maps" || d.Reason.Key != "alice@example.com" {
		t.Errorf("got %s decided by %s, want a permit from the relay_recipient_maps entry alice@example.com", d.Reply(), d.Reason)
	}
	d = p.CheckRcpt(t.Context(), trusted, "client.example", "<me@example.com>", "<friend@elsewhere.example>")
	if d.Verdict != policy.Permit || d.Reason.Restriction != "permit_mynetworks" {
		t.Errorf("got %s decided by %s, want a permit from permit_mynetworks", d.Reply(), d.Reason)
	}
}

// FuzzNoOpenRelay states the property that matters most for any MX:
// whatever a stranger sends, it reaches only our relay domains. Run it
// with "go test -fuzz FuzzNoOpenRelay" after changing the policy.
func FuzzNoOpenRelay(f *testing.F) {
	for _, c := range cases {
		f.Add(c.client.String(), c.sender, c.rcpt)
	}
	f.Add("203.0.113.9", "<>", "<@a.example,@example.com:u@b.example>")
	f.Add("::ffff:203.0.113.9", "<>", "<u@EXAMPLE.ORG.>")
	p := loadMainCF(f)
	mynets := []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8:2::/48"),
	}
	f.Fuzz(func(t *testing.T, client, sender, rcpt string) {
		ip, err := netip.ParseAddr(client)
		if err != nil {
			return
		}
		ip = ip.Unmap()
		for _, n := range mynets {
			if n.Contains(ip) {
				return // trusted: may relay anywhere
			}
		}
		d := p.CheckRcpt(t.Context(), ip, "client.example", sender, rcpt)
		if d.Verdict != policy.Permit {
			if d.Code < 400 || d.Code > 599 || len(d.Enhanced) != 5 || d.Enhanced[0] != byte('0'+d.Code/100) {
				t.Fatalf("malformed refusal %q", d.Reply())
			}
			return
		}
		a, err := policy.ParseAddress(rcpt, true)
		if err != nil {
			t.Fatalf("stranger %s: %q accepted but does not parse: %v", ip, rcpt, err)
		}
		dom := strings.TrimSuffix(strings.ToLower(a.Domain), ".")
		if a.Routed() || !(dom == "example.org" || dom == "example.com" || strings.HasSuffix(dom, ".example.com") || strings.HasSuffix(dom, ".example.org")) {
			t.Fatalf("open relay: stranger %s, MAIL FROM:%s, RCPT TO:%s accepted (%s)", ip, sender, rcpt, d.Reason)
		}
		// Of the relay domains, only listed recipients get in.
		local, _, _ := strings.Cut(strings.ToLower(a.Local), "+")
		if dom == "example.com" && local != "alice" && local != "bob" && local != "postmaster" {
			t.Fatalf("unlisted recipient %q accepted (%s)", rcpt, d.Reason)
		}
	})
}

// TestAgainstPostfix replays what a real Postfix 3.7.11 smtpd answered to
// every case (testdata/postfix-replies.txt, see README.md), so that the
// table above cannot drift from Postfix's behaviour unnoticed: a case
// whose expectation is edited, or a reply of mxrelay that changes, fails
// here.
func TestAgainstPostfix(t *testing.T) {
	b, err := os.ReadFile("testdata/postfix-replies.txt")
	if err != nil {
		t.Fatal(err)
	}
	p := loadMainCF(t)
	n := 0
	for line := range strings.Lines(string(b)) {
		if strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(strings.TrimSuffix(line, "\n"), "\t")
		if len(f) != 6 {
			t.Fatalf("bad line %q", line)
		}
		client := netip.MustParseAddr(strings.TrimPrefix(f[0], "IPV6:"))
		sender, rcpt, want := f[3], f[4], f[5]
		if got := p.CheckRcpt(t.Context(), client, f[2], sender, rcpt).Reply(); got != want {
			t.Errorf("%s MAIL FROM:%s RCPT TO:%s\n got %s\nwant %s (Postfix)", client, sender, rcpt, got, want)
		}
		if n < len(cases) {
			c := cases[n]
			if c.client != client || c.sender != sender || c.rcpt != rcpt || !strings.HasPrefix(want, fmt.Sprintf("%d %s %s", c.code, c.enhanced, c.text)) {
				t.Errorf("case %q disagrees with Postfix's reply %q", c.name, want)
			}
		}
		n++
	}
	if n != len(cases) {
		t.Errorf("%d Postfix replies for %d cases: regenerate testdata/postfix-replies.txt", n, len(cases))
	}
}
