package smtpd

import "strings"

// tokens splits a command's arguments as Postfix's smtpd_token.c does:
// white space separates tokens, a quoted string ("first last") stays in
// its token with its quotes and backslash escapes, and "FROM:" and "TO:"
// end a token at their colon, so that "FROM:<a@b>" and "FROM: <a@b>" are
// both "FROM:" and "<a@b>".
func tokens(s string) []string {
	var out []string
	var cur strings.Builder
	started := false
	flush := func() {
		if started {
			out = append(out, cur.String())
			cur.Reset()
			started = false
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			flush()
		case c == '"':
			started = true
			cur.WriteByte(c)
			i = quoted(s, i+1, &cur)
		case c == ':':
			started = true
			cur.WriteByte(c)
			if t := cur.String(); strings.EqualFold(t, "from:") || strings.EqualFold(t, "to:") {
				flush()
			}
		default:
			started = true
			cur.WriteByte(c)
		}
	}
	flush()
	return out
}

// quoted copies a quoted string from s[i:], up to and including the
// closing quote, into b, and returns the index of the closing quote (or
// len(s)-1 when the quote is not closed: the token then runs to the end).
// A backslash escapes the next byte.
func quoted(s string, i int, b *strings.Builder) int {
	for ; i < len(s); i++ {
		c := s[i]
		b.WriteByte(c)
		switch c {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return i
		}
	}
	return len(s) - 1
}
