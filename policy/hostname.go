package policy

import (
	"net/netip"
	"strings"
)

// nonFQDN is reject_non_fqdn_recipient and reject_non_fqdn_sender: the
// domain must have a dot and valid labels after one trailing dot is
// dropped; address literals pass.
func (s *state) nonFQDN(a Address, subj subject, why Reason) status {
	if strings.HasPrefix(a.Domain, "[") {
		return dunno
	}
	d := strings.TrimSuffix(a.Domain, ".")
	if d != "" && strings.Contains(d, ".") && checkDomain(d, true) == "" {
		return dunno
	}
	return s.reject(errPolicy, s.p.nonFQDNCode, "4.5.2", s.rejectText(subj, "need fully-qualified address"), why)
}

// invalidHelo is reject_invalid_helo_hostname: a HELO name that is
// neither a host name, an IP address nor a valid address literal
// (replies checked against Postfix, golden configuration heloname).
func (s *state) invalidHelo(why Reason) status {
	h := s.req.Helo
	if h == "" {
		return dunno
	}
	if h[0] == '[' {
		// Postfix's valid_mailhost_literal: an IPv4 address as
		// valid_ipv4_hostaddr reads it, or an IPv6 literal with its
		// "IPv6:" tag ("[::1]" is refused; golden configuration heloname).
		if inner, ok := strings.CutSuffix(h[1:], "]"); ok && !strings.Contains(inner, ":") {
			if validIPv4HostAddr(inner) {
				return dunno
			}
		} else if checkDomain(h, false) == "" {
			return dunno
		}
		return s.reject(errPolicy, s.p.invalidHostCode, "5.5.2", s.rejectText(subjHelo, "invalid ip address"), why)
	}
	name := heloName(h)
	if name != "" && checkDomain(name, false) == "" || validIPv4HostAddr(name) {
		return dunno
	}
	if ip, err := netip.ParseAddr(name); err == nil && ip.Is6() && ip.Zone() == "" {
		return dunno
	}
	return s.reject(errPolicy, s.p.invalidHostCode, "5.5.2", s.rejectText(subjHelo, "Invalid name"), why)
}

// nonFQDNHelo is reject_non_fqdn_helo_hostname: the HELO name must be a
// host name with a dot (an IP address without brackets is not).
func (s *state) nonFQDNHelo(why Reason) status {
	h := s.req.Helo
	if h == "" || h[0] == '[' {
		return dunno
	}
	name := heloName(h)
	if name != "" && strings.Contains(name, ".") && checkDomain(name, false) == "" {
		return dunno
	}
	return s.reject(errPolicy, s.p.nonFQDNCode, "4.5.2", s.rejectText(subjHelo, "need fully-qualified hostname"), why)
}

// heloName drops one trailing dot, but not from "..", as Postfix's
// dup_if_truncate: "a.example.." stays invalid.
func heloName(h string) string {
	if strings.HasSuffix(h, ".") && !strings.HasSuffix(h, "..") {
		return h[:len(h)-1]
	}
	return h
}

// validIPv4HostAddr is Postfix's valid_ipv4_hostaddr: four decimal octets
// up to 255, leading zeros allowed ("001.002.003.004"), a first octet of
// zero only in an all-zero address.
func validIPv4HostAddr(a string) bool {
	n, val, in := 0, 0, false
	for i := 0; i < len(a); i++ {
		switch c := a[i]; {
		case '0' <= c && c <= '9':
			if !in {
				in, val = true, 0
				n++
			}
			if val = val*10 + int(c-'0'); val > 255 {
				return false
			}
		case c == '.':
			if !in || i == len(a)-1 || n == 1 && val == 0 && strings.Trim(a, "0.") != "" {
				return false
			}
			in = false
		default:
			return false
		}
	}
	return in && n == 4
}
