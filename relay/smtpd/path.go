package smtpd

import "strings"

// extractPath takes the address out of a MAIL FROM or RCPT TO token as
// Postfix's extract_addr does for the forms SMTP clients send: "<addr>",
// "<>", and, unless strict (strict_rfc821_envelopes), a bare "addr"
// without brackets. A source route ("<@a,@b:user@c>") is dropped, as
// RFC 5321 section 4.1.1.3 lets a server do. ok is false when the token
// is not an address: unbalanced brackets, text after ">", brackets inside
// an unbracketed address, an unclosed quote.
func extractPath(tok string, strict bool) (addr string, ok bool) {
	if tok == "" {
		return "", false
	}
	if tok[0] == '<' {
		end := closingBracket(tok)
		if end != len(tok)-1 {
			return "", false
		}
		tok = tok[1:end]
	} else if strict || strings.ContainsAny(unquotedPart(tok), "<>") {
		return "", false
	}
	if strings.HasPrefix(tok, "@") {
		colon := strings.IndexByte(tok, ':')
		if colon < 0 {
			return "", false
		}
		tok = tok[colon+1:]
	}
	if strings.Count(unquotedPart(tok), "\"")%2 != 0 || strings.ContainsAny(unquotedPart(tok), "<>") {
		return "", false
	}
	return tok, true
}

// closingBracket returns the index of the '>' closing the '<' at 0,
// skipping quoted strings, or -1.
func closingBracket(s string) int {
	inQuote := false
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && inQuote:
			i++
		case c == '"':
			inQuote = !inQuote
		case c == '>' && !inQuote:
			return i
		}
	}
	return -1
}

// unquotedPart returns s with quoted strings removed (their quotes kept),
// so that brackets inside quotes do not count.
func unquotedPart(s string) string {
	if !strings.Contains(s, "\"") {
		return s
	}
	var b strings.Builder
	inQuote := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && inQuote:
			i++
			continue
		case c == '"':
			inQuote = !inQuote
			b.WriteByte(c)
			continue
		}
		if !inQuote {
			b.WriteByte(c)
		}
	}
	return b.String()
}
