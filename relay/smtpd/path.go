package smtpd

import "strings"

// extractPath takes the address out of a MAIL FROM or RCPT TO argument as
// Postfix's extract_addr does: outer "<" and ">" are removed, a source
// route ("@a,@b:") dropped (RFC 5321 section 4.1.1.3 lets a server), then
// the rest is read as an RFC 822 address, ignoring white space, comments
// and stray brackets ("<<a@b>>", "a@b>" and "<a @b>" are all "a@b"). ok
// is false for more than one address ("a@b, c@d"), or, when strict
// (strict_rfc821_envelopes), for anything but "<addr>", and, deliberately
// stricter than Postfix, for control characters even when quoted. The
// address is returned in its external form: quoted strings keep their
// quotes.
func extractPath(arg string, strict bool) (addr string, ok bool) {
	text := arg
	bracketed := len(text) >= 2 && text[0] == '<' && text[len(text)-1] == '>'
	if bracketed {
		text = text[1 : len(text)-1]
	}
	text = stripRoute(text)
	var b strings.Builder
	junk := false // anything but the address: a comment, a phrase
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch c {
		case ' ', '\t':
			// White space between tokens is not part of the address.
		case '<', '>':
			// Brackets are ignored, as tok822 counts them as neither
			// address nor junk.
		case '(':
			end := commentEnd(text, i)
			if end < 0 {
				return "", false
			}
			i = end
			junk = true
		case '"':
			end := quoteEnd(text, i)
			if end < 0 {
				return "", false
			}
			b.WriteString(text[i : end+1])
			i = end
		case ',', ';':
			if strings.TrimSpace(text[i+1:]) != "" && b.Len() > 0 {
				return "", false // a second address
			}
			junk = true
		case '\\':
			if i+1 >= len(text) {
				return "", false // escapes nothing
			}
			b.WriteByte(c)
			i++
			b.WriteByte(text[i])
		default:
			b.WriteByte(c)
		}
	}
	if strict && (!bracketed || junk) {
		return "", false
	}
	addr = b.String()
	addr = stripRoute(addr) // a route that junk hid from the first look (",@a:u@b")
	for i := 0; i < len(addr); i++ {
		if addr[i] < ' ' || addr[i] == 0x7f {
			// A control character, quoted or escaped, could end a line
			// in a Received: header, a DSN or a queue record.
			return "", false
		}
	}
	return addr, true
}

// commentEnd returns the index of the ")" closing the comment at i
// (comments nest; a backslash escapes), or -1.
func commentEnd(s string, i int) int {
	depth := 0
	for ; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// quoteEnd returns the index of the quote closing the one at i, or -1.
func quoteEnd(s string, i int) int {
	for i++; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

// stripRoute removes source routes ("@a,@b:") from the start of s.
func stripRoute(s string) string {
	for strings.HasPrefix(s, "@") {
		colon := strings.IndexByte(s, ':')
		if colon < 0 {
			break
		}
		s = s[colon+1:]
	}
	return s
}
