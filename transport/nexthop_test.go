package transport

import (
	"errors"
	"testing"
)

func TestParseNexthopForms(t *testing.T) {
	tests := []struct {
		in   string
		want []Hop
		out  string // canonical form; "" = same as in
	}{
		{"example.com", []Hop{{Host: "example.com"}}, ""},
		{"example.com:2525", []Hop{{Host: "example.com", Port: 2525}}, ""},
		{"[mx.example.com]", []Hop{{Host: "mx.example.com", Bracketed: true}}, ""},
		{"[mx.example.com]:587", []Hop{{Host: "mx.example.com", Bracketed: true, Port: 587}}, ""},
		{"[1.2.3.4]", []Hop{{Host: "1.2.3.4", Bracketed: true}}, ""},
		{"[ipv6:2001:db8::1]:2525", []Hop{{Host: "2001:db8::1", Bracketed: true, IPv6Tag: true, Port: 2525}}, ""},
		{"[2001:db8::1]", []Hop{{Host: "2001:db8::1", Bracketed: true}}, ""},
		{"[IPv6:2001:db8::1]", []Hop{{Host: "2001:db8::1", Bracketed: true, IPv6Tag: true}}, "[ipv6:2001:db8::1]"},
		{"[smarthost.example]:submission", []Hop{{Host: "smarthost.example", Bracketed: true, Port: 587, Service: "submission"}}, ""},
		{"host.example:smtp", []Hop{{Host: "host.example", Port: 25, Service: "smtp"}}, ""},
		{"host.example:LMTP", []Hop{{Host: "host.example", Port: 24, Service: "lmtp"}}, "host.example:lmtp"},
		{"unix:/var/run/lmtp.sock", []Hop{{Network: "unix", Host: "/var/run/lmtp.sock"}}, ""},
		{"unix:private/dovecot-lmtp", []Hop{{Network: "unix", Host: "private/dovecot-lmtp"}}, ""},
		{"inet:10.0.0.1:24", []Hop{{Network: "inet", Host: "10.0.0.1", Port: 24}}, ""},
		{"inet:lmtp.example", []Hop{{Network: "inet", Host: "lmtp.example"}}, ""},
		{"inet:[::1]:2424", []Hop{{Network: "inet", Host: "::1", Bracketed: true, Port: 2424}}, ""},
		{"[a.example], b.example:26", []Hop{{Host: "a.example", Bracketed: true}, {Host: "b.example", Port: 26}}, ""},
		{"[a.example] b.example,,c.example", []Hop{{Host: "a.example", Bracketed: true}, {Host: "b.example"}, {Host: "c.example"}},
			"[a.example], b.example, c.example"},
	}
	for _, tt := range tests {
		n, err := ParseNexthop(tt.in)
		if err != nil {
			t.Errorf("ParseNexthop(%q): %v", tt.in, err)
			continue
		}
		if !n.Equal(Nexthop{Hops: tt.want}) {
			t.Errorf("ParseNexthop(%q) = %+v, want %+v", tt.in, n.Hops, tt.want)
		}
		want := tt.out
		if want == "" {
			want = tt.in
		}
		if got := n.String(); got != want {
			t.Errorf("ParseNexthop(%q).String() = %q, want %q", tt.in, got, want)
		}
	}
}

func TestParseNexthopErrorsDefer(t *testing.T) {
	for _, in := range []string{
		"", " , ", "host:0", "host:65536", "host:99999999999", "host:nosuchservice", "host:", "[host", "host]",
		"[host]x", "[host]:", "[ipv6:1.2.3.4]", "[ipv6:nonsense]", "[2001:db8::zz]", "[fe80::1%eth0]",
		"2001:db8::1", "bad\x01host", "h/st", "unix:", "inet:", "a..b", "[]", "host:025", "-:25:1",
	} {
		_, err := ParseNexthop(in)
		if err == nil {
			t.Errorf("ParseNexthop(%q) succeeded", in)
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Status != "4.3.5" || !e.Temporary() {
			t.Errorf("ParseNexthop(%q) error %v is not a 4.3.5 deferral", in, err)
		}
	}
}

func FuzzNexthop(f *testing.F) {
	for _, s := range []string{
		"example.com", "[mx.example]:587", "[ipv6:2001:db8::1]:2525", "unix:/x", "inet:[::1]:24",
		"a, b c", "host:submission", "[1.2.3.4]:0", "[x", "inet:h:lmtp", "[ipv6:::ffff:1.2.3.4]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseNexthop(s)
		if err != nil {
			if IsTemporary(err) && StatusOf(err) == "4.3.5" {
				return
			}
			t.Fatalf("ParseNexthop(%q): error %v is not a 4.3.5 deferral", s, err)
		}
		if len(n.Hops) == 0 {
			t.Fatalf("ParseNexthop(%q) gave no hops and no error", s)
		}
		out := n.String()
		m, err := ParseNexthop(out)
		if err != nil {
			t.Fatalf("ParseNexthop(%q) -> %q does not parse: %v", s, out, err)
		}
		if !m.Equal(n) {
			t.Fatalf("round trip %q -> %q: %+v != %+v", s, out, m.Hops, n.Hops)
		}
		if out2 := m.String(); out2 != out {
			t.Fatalf("format not stable: %q -> %q", out, out2)
		}
	})
}

// FuzzRouteErr: the text of an error: or retry: route always gives a valid
// status of the route's class (5 for error:, 4 for retry:), never a
// delivery.
func FuzzRouteErr(f *testing.F) {
	for _, s := range []string{"5.1.6 User has moved", "4.7.1 later", "2.0.0 fine", "x", "", "5.999.999 big", "5.1.1000 bad"} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, text string, isError bool) {
		r := Route{Transport: TransportRetry, Nexthop: text}
		class := byte('4')
		if isError {
			r.Transport, class = TransportError, '5'
		}
		e := r.Err()
		if e == nil || !validStatus(e.Status) || e.Status[0] != class || e.Temporary() != (class == '4') {
			t.Fatalf("%s:%q -> %+v", r.Transport, text, e)
		}
		if _, err := r.Hops(); err == nil {
			t.Fatalf("%s route has hops", r.Transport)
		}
	})
}
