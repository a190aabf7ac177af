package smtpd

import (
	"context"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// Forwarded holds what an authorized client sent with XFORWARD (Postfix
// XFORWARD_README: a content filter passing on the client it received
// the message from). It stands for the original client in the logs and
// in the queue, never in access decisions, and lasts until the mail
// transaction ends (RSET, the end of DATA or BDAT LAST, STARTTLS), as
// smtpd.c's mail_reset ends it.
type Forwarded struct {
	// Client is set when any of NAME, ADDR, PORT, PROTO or HELO was
	// given: the fields below then describe the original client, those
	// not given being unknown ("" here), as smtpd_xforward_preset sets
	// them.
	Client bool
	// Name is the client's host name; "" is unknown ("[UNAVAILABLE]").
	Name string
	// Addr is the client's address; invalid when unknown.
	Addr netip.Addr
	// Port, Proto and Helo are the client's port, protocol (SMTP,
	// ESMTP...) and HELO name; "" when unknown.
	Port, Proto, Helo string
	// Ident is the message's queue ID on the up-stream MTA; "" when not
	// given.
	Ident string
	// Source is "LOCAL" or "REMOTE", the address rewriting context of
	// the original client (XFORWARD SOURCE); "" when not given.
	Source string
}

// NameAddr formats the original client as Postfix's orig_client= log
// field: "name[addr]", or the name alone when the address is unknown.
func (f *Forwarded) NameAddr() string {
	name := f.Name
	if name == "" {
		name = "unknown"
	}
	if !f.Addr.IsValid() {
		return name
	}
	return name + "[" + f.Addr.String() + "]"
}

// xforwardKeyword is the EHLO keyword with the attributes the engine
// takes, in Postfix's order.
const xforwardKeyword = "XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT"

// xforwardNeuter are the characters smtpd.c's NEUTER_CHARACTERS turns
// into "?" in forwarded values: they could alter a header or a log line.
const xforwardNeuter = " <>()\\\";@"

// xforward runs XFORWARD with smtpd.c's checks and replies, in its
// order. A command with a bad attribute changes nothing.
func (c *conn) xforward(ctx context.Context, arg string) *Reply {
	if c.mail {
		return reply(503, "5.5.1", "Error: MAIL transaction in progress")
	}
	toks := strings.Fields(arg)
	if len(toks) == 0 {
		return reply(501, "5.5.4", "Syntax: XFORWARD attribute=value...")
	}
	if !c.client.XForward {
		return reply(550, "5.7.0", "Error: insufficient authorization")
	}
	f := Forwarded{}
	if c.client.Forwarded != nil {
		f = *c.client.Forwarded
	}
	if r := f.update(toks, xforwardRules{ipv4: !c.cfg.NoIPv4, ipv6: !c.cfg.NoIPv6, utf8: !c.cfg.NoSMTPUTF8}); r != nil {
		return r
	}
	c.client.Forwarded = &f
	return reply(250, "2.0.0", "Ok")
}

// xforwardRules are the settings XFORWARD's values are checked with: the
// address families an ADDR may have (inet_protocols), and whether UTF-8
// is kept in values (smtputf8_enable, as Postfix's printable() keeps it).
type xforwardRules struct{ ipv4, ipv6, utf8 bool }

// update applies XFORWARD's attribute=value tokens to f, or returns the
// reply that refuses them.
func (f *Forwarded) update(toks []string, rules xforwardRules) *Reply {
	for _, tok := range toks {
		name, raw, ok := strings.Cut(tok, "=")
		if !ok || raw == "" {
			return reply(501, "5.5.4", "Error: attribute=value expected")
		}
		if len(raw) > 255 {
			return reply(501, "5.5.4", "Error: attribute value too long")
		}
		v, ok := decodeXtext(raw)
		if !ok {
			v = raw // Postfix before 2.3 did not encode
		}
		v = maskUnprintable(v, rules.utf8)
		unavailable := v == "[UNAVAILABLE]"
		bad := func(attr string) *Reply { return reply(501, "5.5.4", "Bad "+attr+" syntax: "+v) }
		switch strings.ToUpper(name) {
		case "NAME":
			f.Name = ""
			if !unavailable {
				v = neuter(v)
				if !validHostname(v) {
					return bad("NAME")
				}
				f.Name = v
			}
			f.Client = true
		case "ADDR":
			f.Addr = netip.Addr{}
			if !unavailable {
				v = neuter(v)
				a, ok := mailhostAddr(v)
				if a.Is4In6() && rules.ipv4 {
					a = a.Unmap() // normalize_mailhost_addr
				}
				if !ok || a.Is4() && !rules.ipv4 || a.Is6() && !rules.ipv6 {
					return bad("ADDR")
				}
				f.Addr = a
			}
			f.Client = true
		case "PORT":
			f.Port = ""
			if !unavailable {
				if !allDigits(v) || len(v) > len("65535") {
					return bad("PORT")
				}
				f.Port = v
			}
			f.Client = true
		case "HELO":
			f.Helo = ""
			if !unavailable {
				f.Helo = neuter(v)
			}
			f.Client = true
		case "PROTO":
			f.Proto = ""
			if !unavailable {
				if len(v) > 64 {
					return bad("PROTO")
				}
				f.Proto = neuter(v)
			}
			f.Client = true
		case "IDENT":
			f.Ident = ""
			if !unavailable {
				f.Ident = neuter(v)
			}
		case "SOURCE":
			switch {
			case unavailable, strings.EqualFold(v, "LOCAL"):
				f.Source = "LOCAL"
			case strings.EqualFold(v, "REMOTE"):
				f.Source = "REMOTE"
			default:
				return bad("SOURCE")
			}
		default:
			return reply(501, "5.5.4", "Bad XFORWARD attribute name: "+name)
		}
	}
	return nil
}

// maskUnprintable replaces with "?" each byte that is not printable
// ASCII, as Postfix's printable(); with keepUTF8 (smtputf8_enable), the
// bytes of valid UTF-8 characters are kept.
func maskUnprintable(s string, keepUTF8 bool) string {
	if !keepUTF8 {
		return mapBytes(s, func(c byte) bool { return c < ' ' || c > '~' })
	}
	b := []byte(s)
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && n <= 1, r < ' ', r == 0x7f, r >= 0x80 && r < 0xa0:
			b[i] = '?'
			i++
		default:
			i += n
		}
	}
	return string(b)
}

// neuter replaces the characters of xforwardNeuter with "?".
func neuter(s string) string {
	return mapBytes(s, func(c byte) bool { return strings.IndexByte(xforwardNeuter, c) >= 0 })
}

// mapBytes replaces with "?" the bytes of s that bad reports.
func mapBytes(s string, bad func(byte) bool) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		if bad(s[i]) {
			if b == nil {
				b = []byte(s)
			}
			b[i] = '?'
		}
	}
	if b == nil {
		return s
	}
	return string(b)
}

// mailhostAddr parses an address as Postfix's valid_mailhost_addr: an
// IPv4 address, or an IPv6 one after "IPv6:" (an IPv4-mapped one is kept
// so, for the caller to unmap when IPv4 is on).
func mailhostAddr(s string) (netip.Addr, bool) {
	if len(s) > 5 && strings.EqualFold(s[:5], "IPv6:") {
		a, err := netip.ParseAddr(s[5:])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return netip.Addr{}, false
		}
		return a, true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, false
	}
	return a, true
}

// validHostname reports whether s is a host name as Postfix's
// valid_hostname accepts it: labels of letters, digits, "_" and inner
// "-", at most 63 bytes each and 255 in all, not all digits.
func validHostname(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	numeric := true
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			ch := label[i]
			switch {
			case ch >= '0' && ch <= '9':
			case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch == '_', ch == '-':
				numeric = false
			default:
				return false
			}
		}
	}
	return !numeric
}
