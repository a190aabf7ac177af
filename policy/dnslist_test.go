package policy

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
)

// The result filter syntax of reject_rbl_client and its kin, with the
// cases of Postfix's own ip_match test.
func TestParseIPPattern(t *testing.T) {
	for _, tc := range []struct {
		in, canon string // canon "" means refused
		match     []string
		noMatch   []string
	}{
		{"1.2.3.4", "1.2.3.4", []string{"1.2.3.4"}, []string{"1.2.3.5"}},
		{"1.2.300.4", "", nil, nil},
		{"1.2.3.", "", nil, nil},
		{"1.2.3", "", nil, nil},
		{"a", "", nil, nil},
		{"1.2.3;4", "", nil, nil},
		{"1.2.[3].4", "1.2.3.4", []string{"1.2.3.4"}, nil},
		{"1.2.[].4", "", nil, nil},
		{"1.2.[1-255].5", "", nil, nil},
		{"1.2.[1..127.128..255].5", "", nil, nil},
		{"1.2.3.[4..1]", "", nil, nil},
		{"1.2.3.[4.1]", "", nil, nil},
		{"1.2.3.4x", "", nil, nil},
		{"1.2.[3..11].5", "1.2.[3..11].5", []string{"1.2.3.5", "1.2.11.5"}, []string{"1.2.2.5", "1.2.12.5", "1.2.11.6"}},
		{"1.2.[3;5;7;9;11].5", "1.2.[3;5;7;9;11].5", []string{"1.2.3.5", "1.2.11.5"}, []string{"1.2.4.5", "1.2.12.5"}},
		{"[1;2].3.4.5", "[1;2].3.4.5", []string{"1.3.4.5", "2.3.4.5"}, []string{"3.3.4.5"}},
		{"[[1;2].3.4.5]", "[1;2].3.4.5", []string{"1.3.4.5"}, []string{"3.3.4.5"}},
		{"[[1;2].3.4.5", "", nil, nil},
		{"127.0.0.[2..11;20]", "127.0.0.[2..11;20]", []string{"127.0.0.20", "::ffff:127.0.0.2"}, []string{"127.0.0.12", "::1"}},
	} {
		p, err := parseIPPattern(tc.in)
		if tc.canon == "" {
			if err == nil {
				t.Errorf("%q: parsed as %s, want an error", tc.in, p.String())
			}
			continue
		}
		if err != nil || p.String() != tc.canon {
			t.Errorf("%q: %s, %v; want %s", tc.in, p.String(), err, tc.canon)
			continue
		}
		for _, a := range tc.match {
			if !p.match(netip.MustParseAddr(a)) {
				t.Errorf("%q does not match %s", tc.in, a)
			}
		}
		for _, a := range tc.noMatch {
			if p.match(netip.MustParseAddr(a)) {
				t.Errorf("%q matches %s", tc.in, a)
			}
		}
	}
}

// FuzzParseIPPattern: what parses prints back to a pattern that parses
// to the same thing, and matches exactly the addresses whose octets are
// in its ranges.
func FuzzParseIPPattern(f *testing.F) {
	for _, s := range []string{"127.0.0.2", "127.0.0.[2..11;20]", "[[1;2].3.4.5]", "1.2.[3..11].5", "1.2.3.[4..1]", "[", "1..2", "255.255.255.[0..255]"} {
		f.Add(s, uint32(0x7f000002))
	}
	f.Fuzz(func(t *testing.T, s string, ip uint32) {
		p, err := parseIPPattern(s)
		if err != nil {
			return
		}
		q, err := parseIPPattern(p.String())
		if err != nil || q.String() != p.String() {
			t.Fatalf("%q prints as %q, which parses as %q, %v", s, p.String(), q.String(), err)
		}
		a := netip.AddrFrom4([4]byte{byte(ip >> 24), byte(ip >> 16), byte(ip >> 8), byte(ip)})
		want := true
		for f, rs := range p {
			in := false
			for _, r := range rs {
				if r.lo > r.hi {
					t.Fatalf("%q: range %d..%d", s, r.lo, r.hi)
				}
				in = in || r.lo <= a.As4()[f] && a.As4()[f] <= r.hi
			}
			want = want && in
		}
		if p.match(a) != want || p.match(netip.AddrFrom16(a.As16())) != want {
			t.Fatalf("%q match %s = %v, want %v", s, a, p.match(a), want)
		}
	})
}

// The reply templates of default_rbl_reply and rbl_reply_maps.
func TestExpandReply(t *testing.T) {
	vals := map[string]string{"rbl_code": "554", "rbl_reason": "listed", "empty": "", "evil": "a\r\nb\x00ü"}
	value := func(n string) (string, bool) { v, ok := vals[n]; return v, ok }
	for _, tc := range []struct{ in, want string }{
		{"$rbl_code Service", "554 Service"},
		{"$rbl_code x${rbl_reason?; $rbl_reason}", "554 x; listed"},
		{"x${empty?; $rbl_reason}", "x"},
		{"${empty:none}", "none"},
		{"${rbl_reason:none}", ""},
		{"${rbl_reason?{yes}:{no}}", "yes"},
		{"${empty?{yes}:{no}}", "no"},
		{"${empty?{yes}:no $rbl_code}", "no 554"},
		{"$(rbl_code) $$ ${rbl_code}", "554 $ 554"},
		{"[$evil]", "[a__b___]"},
		{"${rbl_reason?${empty:{nested $rbl_code}}}", "nested 554"},
		{"x$", "x$"},
	} {
		got, err := expandReply(tc.in, value)
		if err != nil || got != tc.want {
			t.Errorf("%q: %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"$unknown", "${unknown}", "${rbl_code", "${{a} == {b} ? {x} : {y}}", "${rbl_code!x}", "$ x"} {
		if got, err := expandReply(bad, value); err == nil {
			t.Errorf("%q expands to %q; want an error", bad, got)
		}
	}
}

// FuzzExpandReply: expansion never panics, and a value's bytes outside
// printable ASCII, tab and space never reach the reply.
func FuzzExpandReply(f *testing.F) {
	for _, s := range []string{DefaultRBLReply, "${a?{x}:{y}}", "$(a", "${a:${b?$c}}", "$$a", "$"} {
		f.Add(s, "value\r\n\x7f")
	}
	f.Fuzz(func(t *testing.T, tmpl, v string) {
		out, err := expandReply(tmpl, func(string) (string, bool) { return v, true })
		if err != nil {
			return
		}
		if strings.ContainsAny(tmpl, "\r\n\x00\x7f") {
			return // control characters of the template itself stay
		}
		for i := 0; i < len(out); i++ {
			if c := out[i]; c != '\t' && (c < 0x20 || c > 0x7e) && strings.IndexByte(tmpl, c) < 0 {
				t.Fatalf("%q with value %q: byte %#x in %q", tmpl, v, c, out)
			}
		}
	})
}

// A DNS list is asked once per session, however many recipients, and a
// failure is remembered too.
func TestSessionAsksOnce(t *testing.T) {
	var calls atomic.Int32
	d := DNSFunc(func(ctx context.Context, name string, rr RRType) ([]string, error) {
		calls.Add(1)
		switch name {
		case "2.0.0.127.bl.example":
			if rr == TypeTXT {
				return []string{"listed"}, nil
			}
			return []string{"127.0.0.2"}, nil
		case "3.0.0.127.bl.example":
			return nil, errors.New("SERVFAIL")
		}
		return nil, fmt.Errorf("%w: NXDOMAIN", ErrNoRecords)
	})
	p, err := New(context.Background(), Config{RelayDomains: "example.com", DNS: d,
		SMTPDClientRestrictions: "reject_rbl_client bl.example, reject_rbl_client bl.example=127.0.0.[2..3]"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		client, reply string
		calls         int32
	}{
		{"127.0.0.2", "554 5.7.1 Service unavailable; Client host [127.0.0.2] blocked using bl.example; listed", 2},
		{"127.0.0.3", "250 2.1.5 Ok", 1},
		{"127.0.0.4", "250 2.1.5 Ok", 1},
	} {
		calls.Store(0)
		sess := NewSession()
		for i := range 5 {
			d := p.Check(context.Background(), &Request{Stage: StageRcpt, ClientAddr: netip.MustParseAddr(tc.client),
				Session: sess, Sender: "<a@b.example>", Recipient: fmt.Sprintf("<u%d@example.com>", i)})
			if d.Reply() != tc.reply {
				t.Errorf("client %s: %s, want %s", tc.client, d.Reply(), tc.reply)
			}
		}
		if calls.Load() != tc.calls {
			t.Errorf("client %s: %d DNS questions in a session of 5 RCPTs, want %d", tc.client, calls.Load(), tc.calls)
		}
	}
}
