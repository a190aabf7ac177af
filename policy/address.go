package policy

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/mxrelay/mxrelay/lookup"
)

// MaxAddressLength caps an envelope address as received (2048 bytes, as
// Postfix line_length_limit). Longer addresses are syntax errors.
const MaxAddressLength = 2048

// Address is an envelope address after parsing, in Postfix's internal form:
// the localpart with quotes removed and backslash escapes resolved, any RFC
// 821 source route ("@a,@b:") stripped. It is what Postfix shows between
// angle brackets in its replies ("<quoted user@example.com>").
//
// The zero Address is the null address ("<>").
type Address struct {
	// Local is the localpart in internal form. It may contain '@', '%'
	// or '!' (a source-routed address, see Routed) and may be empty
	// ("<@example.com>").
	Local string
	// Domain is the domain as received, case and one trailing dot kept;
	// "[192.0.2.1]" for an address literal. It is empty only when the
	// address has no '@' at all ("<postmaster>").
	Domain string

	s string // the internal form, when it is a substring of the input
}

// SyntaxError reports an envelope address that cannot be parsed. Postfix
// answers it with 501 5.1.3 Bad recipient address syntax (5.1.7 for a
// sender).
type SyntaxError struct {
	Address string // the address as received (truncated to 100 bytes)
	Reason  string // what is wrong, for the log
}

// syntaxError is a *SyntaxError for the address as received.
func syntaxError(addr, why string) *SyntaxError {
	if len(addr) > 100 {
		addr = addr[:100]
	}
	return &SyntaxError{Address: addr, Reason: why}
}

// Error describes the bad address.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("bad address syntax %q: %s", e.Address, e.Reason)
}

// IsNull reports whether a is the null address "<>".
func (a Address) IsNull() bool { return a.Local == "" && a.Domain == "" }

// String returns the internal form, as Postfix shows it in replies:
// local@domain, the localpart unquoted.
func (a Address) String() string {
	if a.s != "" || a.IsNull() {
		return a.s
	}
	if a.Domain == "" {
		return a.Local
	}
	return a.Local + "@" + a.Domain
}

// External returns the address in RFC 5321 form: the localpart quoted when
// it is not a dot-atom. Parsing it gives a back.
func (a Address) External() string {
	if a.IsNull() {
		return ""
	}
	l := lookup.QuoteLocal(a.Local)
	if a.Domain == "" {
		return l
	}
	return l + "@" + a.Domain
}

// Routed reports whether the localpart carries a source route ('@', '!'
// or '%'). Such a recipient of a relay or other non-local domain is not
// an authorised destination (allow_untrusted_routing in postconf(5)); in
// a local domain policy first resolves
// "site!user" and "user%site" and judges the result.
func (a Address) Routed() bool { return strings.ContainsAny(a.Local, "@!%") }

// ParseAddress parses a MAIL FROM or RCPT TO path as Postfix's smtpd
// accepts it: with or without angle brackets, surrounding blanks ignored,
// an RFC 821 source route stripped, quoted localparts unquoted. "<>" gives
// the null Address. Domains must be valid host names or address literals
// ("[192.0.2.1]", "[IPv6:2001:db8::1]"); a numeric domain without brackets,
// an empty label, a label over 63 bytes, comments, blanks and unbalanced
// quotes or brackets are syntax errors, as in Postfix. A non-ASCII domain
// is allowed only when smtputf8 is true (the client sent MAIL FROM ...
// SMTPUTF8); a non-ASCII localpart always is, when it is valid UTF-8.
// An address whose internal form starts with '-' is refused, as Postfix
// refuses it. The error is a *SyntaxError.
func ParseAddress(path string, smtputf8 bool) (Address, error) {
	bad := func(why string) (Address, error) {
		return Address{}, syntaxError(path, why)
	}
	if len(path) > MaxAddressLength {
		return bad("too long")
	}
	if !utf8.ValidString(path) {
		return bad("malformed UTF-8")
	}
	t := trimBlanks(path)
	for strings.HasPrefix(t, "<") { // Postfix also takes "<<a@b>>"
		if !strings.HasSuffix(t, ">") || len(t) < 2 {
			return bad("unbalanced '<'")
		}
		t = trimBlanks(t[1 : len(t)-1])
	}
	if t == "" {
		return Address{}, nil
	}
	if t[0] == '@' {
		if i := routeEnd(t); i > 0 {
			t = t[i+1:]
			if t == "" {
				return bad("source route without address")
			}
		}
	}
	// Fast path: local@domain with plain characters and a valid domain.
	// Anything else (quotes, backslashes, blanks, commas, bad characters)
	// goes through the tokenizer, which has the last word.
	a := Address{Local: t, s: t}
	at := strings.LastIndexByte(t, '@')
	if at >= 0 {
		a.Local, a.Domain = t[:at], t[at+1:]
	}
	fast := at < 0 || a.Domain != "" && checkDomain(a.Domain, smtputf8) == ""
	for i := 0; fast && i < len(a.Local); i++ {
		fast = localOK[a.Local[i]]
	}
	if !fast {
		local, domain, why := parseTokens(t)
		if why != "" {
			return bad(why)
		}
		if local == "" && domain == "" {
			return Address{}, nil
		}
		if domain != "" {
			if why := checkDomain(domain, smtputf8); why != "" {
				return bad(why)
			}
		}
		a = Address{Local: local, Domain: domain}
	}
	local := a.Local
	if strings.HasPrefix(local, "-") {
		return bad("address starts with '-'")
	}
	return a, nil
}

// routeEnd returns the index of the ':' that ends an RFC 821 source route
// ("@a.example,@b.example:"), or -1 when t has none.
func routeEnd(t string) int {
	depth := 0
	for i := 0; i < len(t); i++ {
		switch t[i] {
		case '[':
			depth++
		case ']':
			depth--
		case ':':
			if depth == 0 {
				return i
			}
		case '"':
			return -1
		}
	}
	return -1
}

// parseTokens parses an address that has quotes, backslashes, blanks or
// commas the way Postfix's RFC 822 tokenizer does: blanks between tokens
// are dropped ("u @ example.com" is u@example.com), a backslash quotes the
// next character, two words in a row are two addresses (an error), and
// empty elements of an address list are ignored ("u@example.com,").
// It returns the internal localpart and the domain.
func parseTokens(t string) (local, domain, why string) {
	type token struct {
		kind byte // 'w' word, 'q' quoted word, '[' literal, '.', '@', ','
		text string
	}
	var toks []token
	for i := 0; i < len(t); {
		c := t[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '.' || c == '@' || c == ',':
			toks = append(toks, token{kind: c})
			i++
		case c == '"':
			var b strings.Builder
			for i++; i < len(t) && t[i] != '"'; i++ {
				if t[i] == '\\' && i+1 < len(t) {
					i++
				}
				if t[i] == '\r' || t[i] == '\n' || t[i] == 0 {
					return "", "", "control character in quoted localpart"
				}
				b.WriteByte(t[i])
			}
			if i >= len(t) {
				return "", "", "unterminated quoted string"
			}
			i++
			toks = append(toks, token{kind: 'q', text: b.String()})
		case c == '[':
			j := strings.IndexByte(t[i:], ']')
			if j < 0 {
				return "", "", "unterminated address literal"
			}
			toks = append(toks, token{kind: '[', text: t[i : i+j+1]})
			i += j + 1
		default:
			var b strings.Builder
			for i < len(t) {
				c := t[i]
				if c == '\\' && i+1 < len(t) {
					if n := t[i+1]; n == '\r' || n == '\n' || n == 0 {
						// As in a quoted string: External could
						// not write it back.
						return "", "", "control character in localpart"
					}
					b.WriteByte(t[i+1])
					i += 2
					continue
				}
				if !localOK[c] || c == '.' || c == '@' {
					break
				}
				b.WriteByte(c)
				i++
			}
			if b.Len() == 0 {
				return "", "", fmt.Sprintf("invalid character %q in address", c)
			}
			toks = append(toks, token{kind: 'w', text: b.String()})
		}
	}
	for len(toks) > 0 && toks[0].kind == ',' {
		toks = toks[1:]
	}
	for len(toks) > 0 && toks[len(toks)-1].kind == ',' {
		toks = toks[:len(toks)-1]
	}
	at := -1
	for i, tk := range toks {
		switch {
		case tk.kind == ',':
			return "", "", "more than one address"
		case tk.kind == '@':
			at = i
		case i > 0 && tk.kind != '.' && toks[i-1].kind != '.' && toks[i-1].kind != '@':
			return "", "", "two words without separator (more than one address)"
		}
	}
	if len(toks) == 0 {
		return "", "", ""
	}
	end := len(toks)
	if at >= 0 {
		end = at
		if at == len(toks)-1 {
			return "", "", "empty domain"
		}
		var d strings.Builder
		for _, tk := range toks[at+1:] {
			switch tk.kind {
			case 'q':
				return "", "", "quoted string in domain"
			case '.':
				d.WriteByte('.')
			default:
				d.WriteString(tk.text)
			}
		}
		domain = d.String()
	}
	var l strings.Builder
	for _, tk := range toks[:end] {
		switch tk.kind {
		case '[':
			return "", "", "address literal in localpart"
		case '.', '@':
			l.WriteByte(tk.kind)
		default:
			l.WriteString(tk.text)
		}
	}
	if at < 0 && l.Len() == 0 {
		return "", "", "empty address"
	}
	return l.String(), domain, ""
}

func trimBlanks(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// Character classes: localOK may appear unquoted in a localpart (RFC 5322
// atext, '.', '@' of a source route Postfix keeps, UTF-8 bytes); hostOK in
// a host name label (letters, digits, '-', '_' as Postfix's
// valid_hostname allows).
var localOK, hostOK = func() (l, h [256]bool) {
	for c := 0; c < 256; c++ {
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		l[c] = alnum || c >= 0x80 || strings.IndexByte("!#$%&'*+-/=?^_`{|}~.@", byte(c)) >= 0
		h[c] = alnum || c == '-' || c == '_'
	}
	return
}()

// checkDomain validates a domain as Postfix's valid_hostname and
// valid_mailhost_literal do; it returns why it is invalid, or "".
func checkDomain(d string, smtputf8 bool) string {
	if d[0] == '[' {
		ip, ok := lookup.ParseAddressLiteral(d)
		if !ok {
			return "invalid address literal"
		}
		// RFC 5321 4.1.3: an IPv6 literal needs its "IPv6:" tag; Postfix's
		// smtpd refuses "[::1]" (golden case v6).
		if ip.Is6() && !(len(d) > 6 && strings.EqualFold(d[1:6], "ipv6:")) {
			return "IPv6 address literal without IPv6: tag"
		}
		return ""
	}
	d = strings.TrimSuffix(d, ".")
	if d == "" {
		return "empty domain"
	}
	if len(d) > 255 {
		return "domain longer than 255 bytes"
	}
	numeric := true
	for len(d) > 0 {
		label := d
		if i := strings.IndexByte(d, '.'); i >= 0 {
			label, d = d[:i], d[i+1:]
			if d == "" {
				return "empty domain label"
			}
		} else {
			d = ""
		}
		if label == "" {
			return "empty domain label"
		}
		if len(label) > 63 {
			return "domain label longer than 63 bytes"
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "misplaced hyphen in domain"
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case '0' <= c && c <= '9':
			case hostOK[c]:
				numeric = false
			case c >= 0x80 && smtputf8:
				numeric = false
			default:
				return fmt.Sprintf("invalid character %q in domain", c)
			}
		}
	}
	if numeric {
		return "numeric domain without brackets"
	}
	return ""
}
