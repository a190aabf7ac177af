package policy

import (
	"errors"
	"testing"
)

func TestParseAddress(t *testing.T) {
	for _, tc := range []struct {
		in            string
		utf8          bool
		local, domain string
		str           string // String(), when it differs from local@domain
		bad           bool
	}{
		{in: "<user@example.com>", local: "user", domain: "example.com"},
		{in: "user@example.com", local: "user", domain: "example.com"},
		{in: "< user@example.com >", local: "user", domain: "example.com"},
		{in: "<User@Example.COM.>", local: "User", domain: "Example.COM."},
		{in: "<@a.example,@b.example:user@example.com>", local: "user", domain: "example.com"},
		{in: "<@route.example:user@[192.0.2.1]>", local: "user", domain: "[192.0.2.1]"},
		{in: `<"quoted user"@example.com>`, local: "quoted user", domain: "example.com"},
		{in: `<"a\"b"@example.com>`, local: `a"b`, domain: "example.com"},
		{in: `<"a@b"@example.com>`, local: "a@b", domain: "example.com"},
		{in: "<user@@example.com>", local: "user@", domain: "example.com"},
		{in: "<@example.com>", local: "", domain: "example.com"},
		{in: "<postmaster>", local: "postmaster", domain: "", str: "postmaster"},
		{in: "<u@[IPv6:2001:db8::1]>", local: "u", domain: "[IPv6:2001:db8::1]"},
		{in: "<.user@example.com>", local: ".user", domain: "example.com"},
		{in: "<Ünïcode@example.com>", local: "Ünïcode", domain: "example.com"},
		{in: "<user@bücher.example>", utf8: true, local: "user", domain: "bücher.example"},
		{in: "<user@under_score.example>", local: "user", domain: "under_score.example"},
		{in: "<u @ example.com>", local: "u", domain: "example.com"},
		{in: `<a\@b@example.com>`, local: "a@b", domain: "example.com"},
		{in: `<\x@example.com>`, local: "x", domain: "example.com"},
		{in: "<<u@example.com>>", local: "u", domain: "example.com"},
		{in: "<u@example.com,>", local: "u", domain: "example.com"},
		{in: `<"a"."b c"@example.com>`, local: "a.b c", domain: "example.com"},
		{in: `<""@example.com>`, local: "", domain: "example.com"},
		{in: "<>", local: "", domain: "", str: ""},
		{in: "", local: "", domain: "", str: ""},

		{in: "<user@bücher.example>", bad: true},
		{in: "<user@example.com", bad: true},
		{in: "<user@>", bad: true},
		{in: "<u@127.0.0.1>", bad: true},
		{in: "<u@[1.2.3.4>", bad: true},
		{in: "<u@[not.an.address]>", bad: true},
		{in: "<u@[::1]>", bad: true},
		{in: `<"unterminated@example.com>`, bad: true},
		{in: "<user@back(comment)up.example>", bad: true},
		{in: "<user name@example.com>", bad: true},
		{in: "<user@example..com>", bad: true},
		{in: "<user@-example.com>", bad: true},
		{in: "<-user@example.com>", bad: true},
		{in: "<u@" + string(make([]byte, 64)) + ">", bad: true},
		{in: "<u@" + repeat("b", 64) + ".example>", bad: true},
		{in: "<" + repeat("a", MaxAddressLength) + "@x.example>", bad: true},
		{in: "<\xff@example.com>", bad: true},
		{in: "<@route.example:>", bad: true},
		{in: `<a"b"c@example.com>`, bad: true},
		{in: "<u@example.com,v@example.com>", bad: true},
		{in: "<@route.example,u@example.com>", bad: true},
		{in: "<u@example.com;x>", bad: true},
		{in: `<u@"example".com>`, bad: true},
		{in: "<u@[0177.0.0.1]>", bad: true},
		{in: "<u@example.com@>", bad: true},
		{in: "<u@ex ample.com>", bad: true},
	} {
		a, err := ParseAddress(tc.in, tc.utf8)
		if tc.bad {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Errorf("ParseAddress(%q) = %+v, %v; want a *SyntaxError", tc.in, a, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseAddress(%q): %v", tc.in, err)
			continue
		}
		if a.Local != tc.local || a.Domain != tc.domain {
			t.Errorf("ParseAddress(%q) = %q @ %q, want %q @ %q", tc.in, a.Local, a.Domain, tc.local, tc.domain)
		}
		want := tc.str
		if want == "" && tc.domain != "" {
			want = tc.local + "@" + tc.domain
		}
		if a.String() != want {
			t.Errorf("ParseAddress(%q).String() = %q, want %q", tc.in, a.String(), want)
		}
		b, err := ParseAddress(a.External(), tc.utf8)
		if err != nil || b.Local != a.Local || b.Domain != a.Domain {
			t.Errorf("round trip of %q via %q: %+v, %v", tc.in, a.External(), b, err)
		}
	}
}

func repeat(s string, n int) string {
	b := make([]byte, 0, n*len(s))
	for range n {
		b = append(b, s...)
	}
	return string(b)
}

func TestAddressRouted(t *testing.T) {
	for in, want := range map[string]bool{
		"<u%other.example@backup.example>": true, "<a!b@backup.example>": true, `<"a@b"@backup.example>`: true,
		"<@route.example:u@backup.example>": false, "<u@backup.example>": false,
	} {
		a, err := ParseAddress(in, false)
		if err != nil {
			t.Fatal(err)
		}
		if a.Routed() != want {
			t.Errorf("%s: Routed() = %v, want %v", in, a.Routed(), want)
		}
	}
}
