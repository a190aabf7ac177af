package cleanup

import "strings"

// The RFC 822 address-list model of Postfix's tok822 (global/tok822_*.c):
// header values are scanned into tokens, grouped into addresses right to
// left, and written back in Postfix's canonical spacing. Only what
// address header rewriting needs is here.

// tokKind is a token's kind: an operator byte ('@', '<', ',', ...) or
// one of the kinds below.
type tokKind int

const (
	tokAtom     tokKind = 256 + iota // a word
	tokQString                       // "quoted string", text without quotes and escapes
	tokComment                       // (comment), as written
	tokDomLit                        // [domain literal], text without brackets
	tokStartGrp                      // the ':' that starts a named group
	tokAddr                          // an address: its tokens in sub
)

// tokenLimit caps the tokens of one header, as Postfix's
// header_token_limit (default 10240).
const tokenLimit = 10240

// opChars are the characters that are tokens of their own.
const opChars = "|%!()<>@,;:\\\".[]"

// token is one node of a doubly linked token list.
type token struct {
	kind       tokKind
	text       string
	prev, next *token
	sub        *token // first token of a tokAddr
	owned      bool   // inside an address
}

// scanTokens splits s into tokens, as tok822_scan: white space
// separates, a backslash escapes the next character (and is dropped),
// comments nest. It returns the first token (nil for none).
func scanTokens(s string) *token {
	var head, tail *token
	n := 0
	for i := 0; i < len(s) && n < tokenLimit; n++ {
		c := s[i]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			i++
			n--
			continue
		}
		t := &token{}
		switch {
		case c == '(':
			t.kind = tokComment
			t.text, i = scanComment(s, i)
		case c == '[':
			t.kind = tokDomLit
			t.text, i = collect(s, i+1, func(c byte) bool { return c != ']' })
			if i < len(s) {
				i++
			}
		case c == '"':
			t.kind = tokQString
			t.text, i = collect(s, i+1, func(c byte) bool { return c != '"' })
			if i < len(s) {
				i++
			}
		case c != '\\' && strings.IndexByte(opChars, c) >= 0:
			t.kind = tokKind(c)
			i++
		default:
			t.kind = tokAtom
			t.text, i = collect(s, i, func(c byte) bool {
				return c != ' ' && c != '\t' && c != '\r' && c != '\n' && strings.IndexByte(opChars, c) < 0
			})
			if needsQuote(t.text) {
				t.kind = tokQString
			}
		}
		if head == nil {
			head = t
		} else {
			tail.next, t.prev = t, tail
		}
		tail = t
	}
	return head
}

// collect gathers characters from s[i] while ok, a backslash taking the
// next character as it is; white space becomes a space. It returns the
// text and the index after it.
func collect(s string, i int, ok func(byte) bool) (string, int) {
	var b strings.Builder
	for i < len(s) {
		c := s[i]
		if c == '\\' {
			if i+1 >= len(s) {
				i++
				break
			}
			i++
			c = s[i]
		} else if !ok(c) {
			break
		}
		if c == '\t' || c == '\r' || c == '\n' {
			c = ' '
		}
		b.WriteByte(c)
		i++
	}
	return b.String(), i
}

// scanComment returns the (nested) comment starting at s[i] == '(' as
// written, and the index after it.
func scanComment(s string, i int) (string, int) {
	level := 0
	j := i
	for j < len(s) {
		c := s[j]
		j++
		switch c {
		case '(':
			level++
		case ')':
			if level--; level == 0 {
				return s[i:j], j
			}
		case '\\':
			if j < len(s) {
				j++
			}
		}
	}
	return s[i:j], j
}

// needsQuote reports whether an atom holds what an atom cannot (a space,
// a control character or an operator, by way of backslashes).
func needsQuote(a string) bool {
	for i := 0; i < len(a); i++ {
		c := a[i]
		if c == ' ' || c < 32 || c == 127 || strings.IndexByte(opChars, c) >= 0 {
			return true
		}
	}
	return false
}
