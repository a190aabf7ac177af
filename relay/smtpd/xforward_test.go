package smtpd

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"
)

// dialXForward serves one connection whose client may use XFORWARD when
// allowed is set, as the Backend decides at Connect.
func dialXForward(t *testing.T, allowed bool, cfg Config) (*fakeSession, func(string) string) {
	t.Helper()
	fs := &fakeSession{}
	cfg.Hostname, cfg.ErrorSleep = "mx.example.net", -1
	s := NewServer(BackendFunc(func(ctx context.Context, c *Client) (Session, *Reply) {
		c.XForward = allowed
		fs.cp = c
		return fs, nil
	}), cfg)
	nc, r := pipeServer(t, s)
	replies(t, r, 1)
	cmd := func(line string) string {
		t.Helper()
		fmt.Fprintf(nc, "%s\r\n", line)
		return replies(t, r, 1)[0]
	}
	return fs, cmd
}

// TestXForwardCommand: the replies of smtpd.c's xforward_cmd (recorded
// from Postfix 3.7.11 in relay/testdata/lab-xforward-in), the EHLO
// keyword for an authorized client only, and the attributes the Session
// sees at MAIL, gone when the transaction ends.
func TestXForwardCommand(t *testing.T) {
	fs, cmd := dialXForward(t, true, Config{NoIPv6: true})
	for _, c := range []struct{ send, want string }{
		{"XFORWARD", "501 5.5.4 Syntax: XFORWARD attribute=value..."},
		{"XFORWARD FOO=bar", "501 5.5.4 Bad XFORWARD attribute name: FOO"},
		{"XFORWARD NAME=", "501 5.5.4 Error: attribute=value expected"},
		{"XFORWARD NAME", "501 5.5.4 Error: attribute=value expected"},
		{"XFORWARD PROTO=" + strings.Repeat("x", 65), "501 5.5.4 Bad PROTO syntax: " + strings.Repeat("x", 65)},
		{"XFORWARD NAME=" + strings.Repeat("x", 256), "501 5.5.4 Error: attribute value too long"},
		{"XFORWARD SOURCE=ELSEWHERE", "501 5.5.4 Bad SOURCE syntax: ELSEWHERE"},
		{"XFORWARD PORT=notaport", "501 5.5.4 Bad PORT syntax: notaport"},
		{"XFORWARD ADDR=IPv6:2001:db8::1", "501 5.5.4 Bad ADDR syntax: IPv6:2001:db8::1"},
		{"XFORWARD NAME=bad<name>", "501 5.5.4 Bad NAME syntax: bad?name?"},
		{"EHLO client.test", "250 CHUNKING"},
		{"xforward name=lower.example addr=192.0.2.13", "250 2.0.0 Ok"},
		{"XFORWARD NAME=a+2Eb.example HELO=h+20x(y) PORT=41234 PROTO=esmtp IDENT=ABC123 SOURCE=remote", "250 2.0.0 Ok"},
		{"MAIL FROM:<s@sender.test>", "250 2.1.0 Ok"},
		{"XFORWARD NAME=x.example", "503 5.5.1 Error: MAIL transaction in progress"},
	} {
		if got := cmd(c.send); got != c.want {
			t.Errorf("%.40s: %q, want %q", c.send, got, c.want)
		}
	}
	got, _, _ := fs.snapshot()
	want := Forwarded{Client: true, Name: "a.b.example", Addr: netip.MustParseAddr("192.0.2.13"), Port: "41234",
		Proto: "esmtp", Helo: "h?x?y?", Ident: "ABC123", Source: "REMOTE"}
	if got.Forwarded == nil || *got.Forwarded != want {
		t.Errorf("at MAIL the session saw %+v, want %+v", got.Forwarded, want)
	}
	if got.Forwarded.NameAddr() != "a.b.example[192.0.2.13]" {
		t.Errorf("NameAddr %q", got.Forwarded.NameAddr())
	}
	cmd("RSET")
	cmd("MAIL FROM:<s@sender.test>")
	if got, _, _ := fs.snapshot(); got.Forwarded != nil {
		t.Errorf("after RSET: %+v", got.Forwarded)
	}
	cmd("RSET")
	if got := cmd("XFORWARD NAME=[UNAVAILABLE] ADDR=192.0.2.11 HELO=[UNAVAILABLE]"); got != "250 2.0.0 Ok" {
		t.Fatal(got)
	}
	cmd("MAIL FROM:<s@sender.test>")
	if got, _, _ := fs.snapshot(); got.Forwarded == nil || got.Forwarded.NameAddr() != "unknown[192.0.2.11]" {
		t.Errorf("[UNAVAILABLE] name: %+v", got.Forwarded)
	}
}

// TestXForwardUnauthorized: a client outside smtpd_authorized_xforward_hosts
// is not told of XFORWARD and is refused it, as Postfix does.
func TestXForwardUnauthorized(t *testing.T) {
	_, cmd := dialXForward(t, false, Config{})
	if got := cmd("XFORWARD"); got != "501 5.5.4 Syntax: XFORWARD attribute=value..." {
		t.Errorf("empty XFORWARD: %q", got)
	}
	if got := cmd("XFORWARD NAME=x.example"); got != "550 5.7.0 Error: insufficient authorization" {
		t.Errorf("XFORWARD: %q", got)
	}
}

// TestXForwardKeyword: the EHLO keyword, in Postfix's place, for an
// authorized client only.
func TestXForwardKeyword(t *testing.T) {
	for _, allowed := range []bool{true, false} {
		c := &conn{cfg: &Config{Hostname: "mx2.oracle.test", SizeLimit: 10240000}}
		c.client.XForward = allowed
		got := c.ehloReply().Text
		want := "mx2.oracle.test\nPIPELINING\nSIZE 10240000\nVRFY\nETRN\nENHANCEDSTATUSCODES\n8BITMIME\nDSN\nSMTPUTF8\nCHUNKING"
		if allowed {
			want = strings.Replace(want, "ETRN\n", "ETRN\n"+xforwardKeyword+"\n", 1)
		}
		if got != want {
			t.Errorf("allowed %v: EHLO\n%s\nwant\n%s", allowed, got, want)
		}
	}
}

// FuzzXForward: whatever the command, a success leaves only values
// Postfix would keep: a valid host name or none, digits for the port, no
// character that could alter a header or a log line, LOCAL or REMOTE.
func FuzzXForward(f *testing.F) {
	for _, s := range []string{"NAME=a.example ADDR=192.0.2.1", "NAME=[UNAVAILABLE] ADDR=IPv6:2001:db8::1 PORT=25",
		"HELO=h+20x(y) PROTO=ESMTP IDENT=A+3CB SOURCE=local", "ADDR=IPv6:::ffff:192.0.2.1", "NAME=1.2.3.4", "SOURCE=[UNAVAILABLE]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		var fw Forwarded
		if r := fw.update(strings.Fields(arg), xforwardRules{ipv4: true, ipv6: true, utf8: true}); r != nil {
			if r.Code != 501 {
				t.Fatalf("%q: %v", arg, r)
			}
			return
		}
		if fw.Name != "" && !validHostname(fw.Name) {
			t.Errorf("%q: name %q", arg, fw.Name)
		}
		if fw.Port != "" && (!allDigits(fw.Port) || len(fw.Port) > 5) {
			t.Errorf("%q: port %q", arg, fw.Port)
		}
		for _, v := range []string{fw.Name, fw.Helo, fw.Proto, fw.Ident} {
			if strings.ContainsAny(v, xforwardNeuter+"\r\n\x00\x7f") || !utf8.ValidString(v) {
				t.Errorf("%q: value %q keeps a character Postfix neuters", arg, v)
			}
		}
		if fw.Source != "" && fw.Source != "LOCAL" && fw.Source != "REMOTE" {
			t.Errorf("%q: source %q", arg, fw.Source)
		}
		if fw.Addr.IsValid() && (fw.Addr.Is4In6() || fw.Addr.Zone() != "") {
			t.Errorf("%q: address %v", arg, fw.Addr)
		}
	})
}

// TestXForwardEndsAtHelo: HELO and EHLO end what XFORWARD forwarded, as
// smtpd.c's helo_cmd and ehlo_cmd call mail_reset.
func TestXForwardEndsAtHelo(t *testing.T) {
	for _, hello := range []string{"HELO b.test", "EHLO b.test"} {
		fs, cmd := dialXForward(t, true, Config{})
		cmd("EHLO a.test")
		if got := cmd("XFORWARD NAME=x.example ADDR=192.0.2.1"); got != "250 2.0.0 Ok" {
			t.Fatal(got)
		}
		cmd(hello)
		cmd("MAIL FROM:<s@sender.test>")
		if got, _, _ := fs.snapshot(); got.Forwarded != nil {
			t.Errorf("after %s the session still sees %+v", hello, got.Forwarded)
		}
	}
}

// TestXForwardValues: an IPv4-mapped ADDR is IPv4 when IPv4 is on and
// stays IPv6 when only IPv6 is (normalize_mailhost_addr); UTF-8 in a
// value is kept with smtputf8_enable and masked without it (printable()).
func TestXForwardValues(t *testing.T) {
	for _, c := range []struct {
		rules xforwardRules
		arg   string
		want  Forwarded
	}{
		{xforwardRules{ipv4: true, ipv6: true}, "ADDR=IPv6:::ffff:192.0.2.1", Forwarded{Client: true, Addr: netip.MustParseAddr("192.0.2.1")}},
		{xforwardRules{ipv6: true}, "ADDR=IPv6:::ffff:192.0.2.1", Forwarded{Client: true, Addr: netip.MustParseAddr("::ffff:192.0.2.1")}},
		{xforwardRules{ipv4: true, utf8: true}, "HELO=h\u00e9llo.example", Forwarded{Client: true, Helo: "h\u00e9llo.example"}},
		{xforwardRules{ipv4: true}, "HELO=h\u00e9llo.example", Forwarded{Client: true, Helo: "h??llo.example"}},
		{xforwardRules{ipv4: true, utf8: true}, "HELO=a\xffb", Forwarded{Client: true, Helo: "a?b"}},
	} {
		var f Forwarded
		if r := f.update([]string{c.arg}, c.rules); r != nil || f != c.want {
			t.Errorf("%+v %q: %+v (%v), want %+v", c.rules, c.arg, f, r, c.want)
		}
	}
	var f Forwarded
	if r := f.update([]string{"ADDR=IPv6:2001:db8::1"}, xforwardRules{ipv4: true}); r == nil || r.Code != 501 {
		t.Errorf("IPv6 ADDR with IPv4 only: %v", r)
	}
}
