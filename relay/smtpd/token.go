package smtpd

import "strings"

// token is one argument of a command, as Postfix's smtpd_token.c splits
// them.
type token struct {
	text string
	bad  bool // an unclosed "<" or quote (SMTPD_TOK_ERROR)
}

// tokens splits a command's arguments as Postfix's smtpd_token.c does:
// white space separates tokens, except inside "<...>" (which nests) and
// quoted strings; a backslash escapes the next byte; and "FROM:" and
// "TO:" end a token at their colon, so that "FROM:<a@b>" and
// "FROM: <a@b>" are both "FROM:" and "<a@b>".
func tokens(s string) []token {
	var out []token
	var cur strings.Builder
	bad := false
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, token{text: cur.String(), bad: bad})
			cur.Reset()
		}
		bad = false
	}
	for i := 0; i < len(s); {
		c := s[i]
		i++
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f':
			flush()
		case c == '<':
			var ok bool
			i, ok = quotedRun(s, i, &cur, '<', '>')
			bad = bad || !ok
		case c == '"':
			var ok bool
			i, ok = quotedRun(s, i, &cur, '"', '"')
			bad = bad || !ok
		case c == ':':
			cur.WriteByte(c)
			if t := cur.String(); strings.EqualFold(t, "from:") || strings.EqualFold(t, "to:") {
				flush()
			}
		default:
			if c == '\\' && i < len(s) {
				cur.WriteByte(c)
				c = s[i]
				i++
			}
			cur.WriteByte(c)
		}
	}
	flush()
	return out
}

// quotedRun copies an opening start and what follows up to its closing
// last into b, as smtpd_token.c's smtp_quoted: inside "<...>" a quoted
// string and a nested "<" are entered, a backslash escapes. It returns
// the index after the run and whether it was closed.
func quotedRun(s string, i int, b *strings.Builder, start, last byte) (int, bool) {
	stack := []byte{last}
	b.WriteByte(start)
	for i < len(s) {
		c := s[i]
		i++
		b.WriteByte(c)
		wanted := stack[len(stack)-1]
		switch {
		case c == '\\':
			if i >= len(s) {
				return i, false
			}
			b.WriteByte(s[i])
			i++
		case c == wanted:
			if len(stack) == 1 {
				return i, true
			}
			stack = stack[:len(stack)-1]
		case c == '"':
			stack = append(stack, '"')
		case c == '<' && wanted == '>':
			stack = append(stack, '>')
		}
	}
	return i, false
}
