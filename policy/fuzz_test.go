package policy

import (
	"bufio"
	"context"
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mxrelay/mxrelay/lookup"
)

// FuzzParseAddress checks that what parses round-trips through its RFC 5321
// form, that the internal form is what String says, and that accepted
// addresses respect the syntax Postfix enforces.
func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"<user@example.com>", "user@example.com", `<"quoted user"@example.com>`,
		`<"a\"b\\c"@example.com>`, "<@a.example,@b.example:user@example.com>", "<u@[192.0.2.1]>",
		"<u@[IPv6:2001:db8::1]>", "<Ünïcode@bücher.example>", "<user@xn--bcher-kva.example>", "<u%x@y.example>",
		"<a!b@c.example>", "<user@@example.com>", "<@example.com>", "<postmaster>", "<>", "<user@example.com.",
		"<-user@x.example>", `<"@"@x.example>`, "<u@127.0.0.1>", "< u@x.example >", "<u @ x . example>",
		`<a\@b@x.example>`, "<<u@x.example>>", "<u@x.example,>", `<"a".b@x.example>`, `<a"b"c@x.example>`} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, in string, smtputf8 bool) {
		a, err := ParseAddress(in, smtputf8)
		if err != nil {
			if _, ok := err.(*SyntaxError); !ok {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		if a.IsNull() {
			return
		}
		if !utf8.ValidString(a.Local) || !utf8.ValidString(a.Domain) {
			t.Fatalf("invalid UTF-8 accepted: %+v", a)
		}
		want := a.Local
		if a.Domain != "" {
			want += "@" + a.Domain
			if why := checkDomain(a.Domain, smtputf8); why != "" {
				t.Fatalf("domain %q accepted but invalid: %s", a.Domain, why)
			}
		}
		if a.String() != want {
			t.Fatalf("String() = %q, want %q", a.String(), want)
		}
		if strings.HasPrefix(want, "-") {
			t.Fatalf("address starting with '-' accepted: %q", want)
		}
		ext := a.External()
		b, err := ParseAddress(ext, smtputf8)
		if err != nil {
			t.Fatalf("External() %q of %q does not parse: %v", ext, in, err)
		}
		if b.Local != a.Local || b.Domain != a.Domain {
			t.Fatalf("round trip %q -> %q -> %+v, want %+v", in, ext, b, a)
		}
		if c, err := ParseAddress("<"+ext+">", smtputf8); err != nil || c.Local != a.Local || c.Domain != a.Domain {
			t.Fatalf("bracketed %q: %+v %v", ext, c, err)
		}
	})
}

// FuzzParseRestrictions checks that a parsed list formats back to a value
// that parses to the same restrictions.
func FuzzParseRestrictions(f *testing.F) {
	for _, s := range []string{"permit_mynetworks, reject_unauth_destination",
		"check_recipient_access hash:/etc/postfix/access, check_policy_service { inet:127.0.0.1:9998, timeout=10s }",
		"check_sender_access inline:{ a=b, {c = d e} }", "warn_if_reject reject_unlisted_recipient",
		"myclass,,  permit", "check_helo_access { {x} }", "{", "}", "check_client_access"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		rs, err := ParseRestrictions(in)
		if err != nil {
			return
		}
		for _, r := range rs {
			if r.Name == "" || r.Name != strings.ToLower(r.Name) {
				t.Fatalf("bad name %q", r.Name)
			}
			if takesArg(r.Name) != (r.Arg != "") {
				t.Fatalf("%q: argument %q", r.Name, r.Arg)
			}
		}
		out := FormatRestrictions(rs)
		again, err := ParseRestrictions(out)
		if err != nil {
			t.Fatalf("%q formats to %q, which does not parse: %v", in, out, err)
		}
		if len(again) != len(rs) {
			t.Fatalf("%q -> %q: %v vs %v", in, out, rs, again)
		}
		for i := range rs {
			if rs[i] != again[i] {
				t.Fatalf("%q -> %q: %+v vs %+v", in, out, rs[i], again[i])
			}
		}
	})
}

// FuzzPolicyReply checks the policy reply reader: an accepted reply holds
// an action line, and the action has no line break.
func FuzzPolicyReply(f *testing.F) {
	for _, s := range []string{"action=OK\n\n", "action=REJECT no\nfoo=bar\n\n", "garbage\n\n", "action=\n\n",
		"foo=bar\n\n", "action=DUNNO\r\n\r\n", "action=OK\n", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		action, err := readReply(bufio.NewReaderSize(strings.NewReader(in), 16), 1024)
		if err != nil {
			return
		}
		if strings.ContainsAny(action, "\n") || strings.TrimSpace(action) != action {
			t.Fatalf("action %q", action)
		}
		// The reply is what precedes the first empty line; bytes after
		// it belong to the next reply.
		n := 0
		for rest := in; ; {
			line, after, ok := strings.Cut(rest, "\n")
			if !ok {
				t.Fatalf("accepted %q without an empty line", in)
			}
			n += len(line) + 1
			if strings.TrimRight(line, "\r") == "" {
				break
			}
			rest = after
		}
		if reply := in[:n]; !strings.Contains(reply, "action=") || len(reply) > 1024 {
			t.Fatalf("accepted %q", reply)
		}
		// The same reply through a large buffer reads the same.
		again, err := readReply(bufio.NewReaderSize(strings.NewReader(in), 4096), 1024)
		if err != nil || again != action {
			t.Fatalf("buffer size changes the result: %q/%v vs %q", again, err, action)
		}
	})
}

// FuzzNoOpenRelay sends arbitrary recipients from a stranger through a
// backup MX configuration and checks the property an MX lives by: nothing
// but its own and its relay domains is ever accepted, source-routed
// recipients never are, and every reply is a well-formed 2xx/4xx/5xx
// answer whose verdict matches its code.
func FuzzNoOpenRelay(f *testing.F) {
	for _, s := range []string{"<u@backup.example>", "<u@sub.backup.example>", "<u@stranger.example>",
		"<u%stranger.example@backup.example>", `<"a@b"@backup.example>`, "<a!b@backup.example>",
		"<@backup.example:u@stranger.example>", "<u@[192.0.2.1]>", "<u@[127.0.0.1]>", "<postmaster>",
		"<u@backup.example.>", "<u@BACKUP.EXAMPLE>", "<u@backup.example.stranger.example>", "<u@xbackup.example>",
		"<u%backup.example@mx.example.net>", "<ok@backup.example>", "<stranger.example!u@mx.example.net>",
		"<a!b%c@localhost>", "<u%stranger.example@[127.0.0.1]>", `<"u@stranger.example"@localhost>`,
		`<"u@backup.example"@localhost>`, `<"u@"@localhost>`, `<"u@backup.example@"@localhost>`, `<"@backup.example"@localhost>`} {
		f.Add(s, false, "<s@sender.example>", "client.example")
	}
	f.Add("<u@backup.example>", true, "<>", "[192.0.2.1]")
	f.Add("<u@backup.example>", false, "<bad@@>", "")
	c := backupMX()
	c.RelayRecipientMaps = ""
	c.SMTPDRecipientRestrictions = "check_recipient_access inline:{ {ok@backup.example=OK}, {drop@stranger.example=DISCARD}, {backup.example=DUNNO} }, " +
		"reject_non_fqdn_sender, check_sender_access inline:{ {sender.example=DUNNO} }, check_helo_access inline:{ {bad.example=REJECT} }"
	p, err := New(context.Background(), c)
	if err != nil {
		f.Fatal(err)
	}
	defer p.Close()
	f.Fuzz(func(t *testing.T, rcpt string, smtputf8 bool, sender, helo string) {
		d := p.Check(context.Background(), &Request{Stage: StageRcpt, ClientAddr: netip.MustParseAddr("203.0.113.1"),
			Sender: sender, Helo: helo, Recipient: rcpt, SMTPUTF8: smtputf8})
		switch {
		case d.Code == 250 && d.Verdict == Permit:
		case d.Code >= 400 && d.Code < 500 && d.Verdict == Defer:
		case d.Code >= 500 && d.Code < 600 && d.Verdict == Reject:
		default:
			t.Fatalf("%q: verdict %v with reply %q", rcpt, d.Verdict, d.Reply())
		}
		if dsnValid(d.Enhanced) != len(d.Enhanced) || d.Enhanced[0] != byte('0'+d.Code/100) {
			t.Fatalf("%q: enhanced code %q with %d", rcpt, d.Enhanced, d.Code)
		}
		if d.Verdict != Permit || d.Discard {
			return
		}
		a, err := ParseAddress(rcpt, smtputf8)
		if err != nil {
			t.Fatalf("%q accepted but does not parse: %v", rcpt, err)
		}
		// Where the mail goes: local addresses whose localpart routes
		// elsewhere ("user@site" always, then site!user, user%site with
		// swap_bangpath, allow_percent_hack) go there, as in Postfix.
		local, dom := a.Local, strings.ToLower(strings.TrimSuffix(a.Domain, "."))
		isLocal := func(d string) bool {
			if ip, ok := lookup.ParseAddressLiteral(d); ok {
				return (ip == netip.MustParseAddr("127.0.0.1") || ip == netip.IPv6Loopback()) && !strings.Contains(d, "ffff")
			}
			return d == "" || d == "mx.example.net" || d == "localhost"
		}
		for isLocal(dom) {
			if i := strings.LastIndexByte(strings.TrimSuffix(local, "@"), '@'); i >= 0 {
				local, dom = local[:i], strings.ToLower(strings.TrimSuffix(strings.TrimSuffix(local, "@")[i+1:], "."))
			} else if i := strings.IndexByte(local, '!'); i > 0 && i < len(local)-1 {
				dom, local = strings.ToLower(strings.TrimSuffix(local[:i], ".")), local[i+1:]
			} else if i := strings.LastIndexByte(local, '%'); i > 0 && i < len(local)-1 {
				local, dom = local[:i], strings.ToLower(strings.TrimSuffix(local[i+1:], "."))
			} else {
				break
			}
		}
		if strings.ContainsAny(local, "@!%") {
			t.Fatalf("source-routed %q accepted from a stranger", rcpt)
		}
		if !isLocal(dom) && dom != "backup.example" && !strings.HasSuffix(dom, ".backup.example") {
			t.Fatalf("OPEN RELAY: %q (to %s@%s) accepted from a stranger: %v", rcpt, local, dom, d)
		}
	})
}
