package policy

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ipPattern is a DNS list result filter, the "=..." part of
// "reject_rbl_client zen.example=127.0.0.[2..11;20]": four IPv4 fields,
// each a number or a bracketed list of numbers and "low..high" ranges
// (postconf(5), reject_rbl_client; Postfix's ip_match.c syntax).
type ipPattern [4][]octetRange

type octetRange struct{ lo, hi uint8 }

// parseIPPattern parses a result filter. The whole pattern may be
// enclosed in "[ ]" ("[127.0.0.[2;3]]").
func parseIPPattern(s string) (ipPattern, error) {
	var p ipPattern
	orig := s
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") && closing(s) == len(s)-1 {
		s = s[1 : len(s)-1]
	}
	bad := func(at int, what string) (ipPattern, error) {
		return ipPattern{}, fmt.Errorf("DNS list result filter %q: %s at %q", orig, what, s[:at]+">"+s[at:])
	}
	i := 0
	for f := 0; f < 4; f++ {
		if f > 0 {
			if i >= len(s) || s[i] != '.' {
				return bad(i, `need "."`)
			}
			i++
		}
		if i < len(s) && s[i] == '[' {
			i++
			for {
				lo, n := octet(s[i:])
				if n == 0 {
					return bad(i, "need decimal number 0..255")
				}
				i += n
				hi := lo
				if strings.HasPrefix(s[i:], "..") {
					i += 2
					v, n := octet(s[i:])
					if n == 0 || v < lo {
						return bad(i, "numeric range error")
					}
					i += n
					hi = v
				} else if strings.HasPrefix(s[i:], ".") {
					return bad(i+1, "numeric range error")
				}
				p[f] = append(p[f], octetRange{lo, hi})
				if i < len(s) && s[i] == ';' {
					i++
					continue
				}
				if i < len(s) && s[i] == ']' {
					i++
					break
				}
				return bad(i, `need ";" or "]"`)
			}
			continue
		}
		v, n := octet(s[i:])
		if n == 0 {
			return bad(i, `need decimal number 0..255 or "["`)
		}
		i += n
		p[f] = []octetRange{{v, v}}
	}
	if i != len(s) {
		return bad(i, "garbage after pattern")
	}
	return p, nil
}

// closing returns the index of the ']' that closes the '[' at 0, or -1.
func closing(s string) int {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
		case ']':
			if depth--; depth == 0 {
				return i
			}
		}
	}
	return -1
}

// octet reads a decimal number 0..255 at the start of s and returns it
// and the digits read (0: none, or too large).
func octet(s string) (uint8, int) {
	n := 0
	for n < len(s) && n < 4 && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	if n == 0 || n > 3 {
		return 0, 0
	}
	v, err := strconv.Atoi(s[:n])
	if err != nil || v > 255 {
		return 0, 0
	}
	return uint8(v), n
}

// match reports whether an IPv4 address matches; other addresses never do
// (Postfix skips them).
func (p *ipPattern) match(a netip.Addr) bool {
	a = a.Unmap()
	if !a.Is4() {
		return false
	}
	b := a.As4()
	for f, rs := range p {
		ok := false
		for _, r := range rs {
			if r.lo <= b[f] && b[f] <= r.hi {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// String writes the pattern back in Postfix's syntax.
func (p *ipPattern) String() string {
	var b strings.Builder
	for f, rs := range p {
		if f > 0 {
			b.WriteByte('.')
		}
		if len(rs) == 1 && rs[0].lo == rs[0].hi {
			b.WriteString(strconv.Itoa(int(rs[0].lo)))
			continue
		}
		b.WriteByte('[')
		for i, r := range rs {
			if i > 0 {
				b.WriteByte(';')
			}
			b.WriteString(strconv.Itoa(int(r.lo)))
			if r.hi != r.lo {
				b.WriteString("..")
				b.WriteString(strconv.Itoa(int(r.hi)))
			}
		}
		b.WriteByte(']')
	}
	return b.String()
}
