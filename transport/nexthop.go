package transport

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Nexthop is a parsed transport nexthop (smtp(8), "SMTP DESTINATION
// SYNTAX" and "LMTP DESTINATION SYNTAX"): one or more hops, tried in order.
// The zero Nexthop means "the recipient domain" and is what an empty
// nexthop field parses to only through routing; ParseNexthop("") fails.
type Nexthop struct {
	// Hops are the destinations, in the order written.
	Hops []Hop
}

// Hop is one destination of a Nexthop.
//
// For SMTP, a hop without brackets is a domain whose MX records are looked
// up (RFC 5321 section 5.1); a bracketed hop is a host whose own addresses
// are used, with no MX lookup. LMTP never looks up MX records; its hops
// carry Network "inet" or "unix" when written with that prefix.
type Hop struct {
	// Network is "unix" for "unix:/path", "inet" for "inet:host[:port]",
	// and "" for the plain SMTP forms.
	Network string
	// Host is the domain, host name or IP address (without brackets and
	// without the "ipv6:" tag), or the socket path when Network is "unix"
	// (kept as written; a relative path is dialed under
	// AgentConfig.SocketDirectory).
	Host string
	// Bracketed is true for "[host]": no MX lookup.
	Bracketed bool
	// IPv6Tag is true when the host was written "[ipv6:...]".
	IPv6Tag bool
	// Port is the TCP port, 0 for the protocol's default (smtp 25, lmtp 24).
	Port uint16
	// Service is the port as written when it was a service name ("submission");
	// Port then holds its number.
	Service string
}

// servicePort returns the port of a service name ParseNexthop knows
// (lower case). Postfix asks getservbyname(3); a fixed table keeps results
// independent of the machine's /etc/services.
func servicePort(name string) (uint16, bool) {
	switch name {
	case "smtp":
		return 25, true
	case "lmtp":
		return 24, true
	case "submission":
		return 587, true
	case "smtps", "submissions":
		return 465, true
	}
	return 0, false
}

// Default ports, as Postfix smtp(8) ("smtp") and lmtp(8) ("lmtp").
const (
	SMTPPort = 25
	LMTPPort = 24
)

// maxNexthopLen caps the text ParseNexthop accepts.
const maxNexthopLen = 4096

// ParseNexthop parses a nexthop in any form smtp(8) accepts (Postfix's
// host_port.c): "domain", "domain:port",
// "[host]", "[host]:port", "[1.2.3.4]", "[ipv6:2001:db8::1]:2525", a
// service name as port ("smtp", "submission", "lmtp"), "unix:/path",
// "inet:host", "inet:host:port", "inet:[addr]:port", and comma or space
// separated lists of these.
//
// A malformed nexthop (bad port, unbalanced bracket, bad address, empty
// element) gives an *Error with status 4.3.5: Postfix's delivery agent treats
// it as a fatal configuration error, so the mail is deferred, not bounced.
func ParseNexthop(s string) (Nexthop, error) {
	if len(s) > maxNexthopLen {
		return Nexthop{}, nexthopError(s[:64]+"...", "nexthop too long")
	}
	fields := strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\r' || r == '\n'
	})
	if len(fields) == 0 {
		return Nexthop{}, nexthopError(s, "empty nexthop")
	}
	n := Nexthop{Hops: make([]Hop, 0, len(fields))}
	for _, f := range fields {
		h, err := parseHop(f)
		if err != nil {
			return Nexthop{}, err
		}
		n.Hops = append(n.Hops, h)
	}
	return n, nil
}

func nexthopError(s, why string) *Error {
	return newError("4.3.5", nil, "bad nexthop %q: %s", s, why)
}

func parseHop(s string) (Hop, error) {
	var h Hop
	rest := s
	switch {
	case hasPrefixFold(rest, "unix:"):
		h.Network, h.Host = "unix", rest[5:]
		if h.Host == "" {
			return h, nexthopError(s, "empty socket path")
		}
		for i := 0; i < len(h.Host); i++ {
			if h.Host[i] < 0x20 || h.Host[i] == 0x7f {
				return h, nexthopError(s, "control character in socket path")
			}
		}
		return h, nil
	case hasPrefixFold(rest, "inet:"):
		h.Network, rest = "inet", rest[5:]
	}
	var port string
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return h, nexthopError(s, "missing ']'")
		}
		h.Bracketed = true
		h.Host = rest[1:end]
		after := rest[end+1:]
		switch {
		case after == "":
		case after[0] == ':':
			port = after[1:]
			if port == "" {
				return h, nexthopError(s, "empty port")
			}
		default:
			return h, nexthopError(s, "text after ']'")
		}
		if hasPrefixFold(h.Host, "ipv6:") {
			h.IPv6Tag = true
			h.Host = h.Host[5:]
			a, err := netip.ParseAddr(h.Host)
			if err != nil || !a.Is6() || a.Zone() != "" {
				return h, nexthopError(s, "bad IPv6 address")
			}
		} else if strings.IndexByte(h.Host, ':') >= 0 {
			a, err := netip.ParseAddr(h.Host)
			if err != nil || !a.Is6() || a.Zone() != "" {
				return h, nexthopError(s, "bad IPv6 address")
			}
		} else if !validHostname(h.Host) {
			return h, nexthopError(s, "bad host name")
		}
	} else {
		if strings.ContainsAny(rest, "[]") {
			return h, nexthopError(s, "misplaced bracket")
		}
		h.Host = rest
		if i := strings.IndexByte(rest, ':'); i >= 0 {
			h.Host, port = rest[:i], rest[i+1:]
			if port == "" {
				return h, nexthopError(s, "empty port")
			}
		}
		if !validHostname(h.Host) {
			return h, nexthopError(s, "bad host name")
		}
	}
	if port != "" {
		p, svc, err := parsePort(port)
		if err != nil {
			return h, nexthopError(s, err.Error())
		}
		h.Port, h.Service = p, svc
	}
	return h, nil
}

// parsePort accepts 1-65535 or a known service name.
func parsePort(s string) (uint16, string, error) {
	if s[0] >= '0' && s[0] <= '9' {
		if len(s) > 1 && s[0] == '0' {
			return 0, "", fmt.Errorf("bad port %q", s)
		}
		n, err := strconv.ParseUint(s, 10, 16)
		if err != nil || n == 0 {
			return 0, "", fmt.Errorf("bad port %q", s)
		}
		return uint16(n), "", nil
	}
	if p, ok := servicePort(strings.ToLower(s)); ok {
		return p, strings.ToLower(s), nil
	}
	return 0, "", fmt.Errorf("unknown service %q", s)
}

// validHostname accepts a domain name or IPv4 address: dot-separated,
// non-empty labels of letters, digits, '-', '_' or UTF-8 bytes, at most 255
// bytes, one optional trailing dot.
func validHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 255 {
		return false
	}
	label := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if label == 0 {
				return false
			}
			label = 0
			continue
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c >= 0x80:
		default:
			return false
		}
		label++
		if label > 63 {
			return false
		}
	}
	return true
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// String formats the nexthop; hops are separated by ", ". ParseNexthop of
// the result gives back an equal Nexthop.
func (n Nexthop) String() string {
	var b strings.Builder
	for i, h := range n.Hops {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(h.String())
	}
	return b.String()
}

// String formats the hop in the syntax ParseNexthop reads.
func (h Hop) String() string {
	if h.Network == "unix" {
		return "unix:" + h.Host
	}
	var b strings.Builder
	if h.Network == "inet" {
		b.WriteString("inet:")
	}
	if h.Bracketed {
		b.WriteByte('[')
		if h.IPv6Tag {
			b.WriteString("ipv6:")
		}
		b.WriteString(h.Host)
		b.WriteByte(']')
	} else {
		b.WriteString(h.Host)
	}
	switch {
	case h.Service != "":
		b.WriteString(":" + h.Service)
	case h.Port != 0:
		b.WriteString(":" + strconv.Itoa(int(h.Port)))
	}
	return b.String()
}

// PortOr returns the hop's port, or def when none was given.
func (h Hop) PortOr(def uint16) uint16 {
	if h.Port != 0 {
		return h.Port
	}
	return def
}

// Equal reports whether two nexthops are the same, hop by hop. Host names
// compare case-insensitively.
func (n Nexthop) Equal(m Nexthop) bool {
	if len(n.Hops) != len(m.Hops) {
		return false
	}
	for i := range n.Hops {
		a, b := n.Hops[i], m.Hops[i]
		if a.Network != b.Network || a.Bracketed != b.Bracketed || a.IPv6Tag != b.IPv6Tag ||
			a.Port != b.Port || a.Service != b.Service {
			return false
		}
		if a.Network == "unix" && a.Host != b.Host || !strings.EqualFold(a.Host, b.Host) {
			return false
		}
	}
	return true
}
