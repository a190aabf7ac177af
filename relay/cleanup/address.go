package cleanup

import (
	"fmt"
	"strings"
)

// SplitAddresses splits a table value into the addresses it lists, as
// Postfix's mail_addr_crunch reads one (RFC 5322 address lists): commas
// and white space separate addresses, "(comments)" are dropped, and in
// "Name <user@example.com>" only the part in angle brackets counts.
// Double-quoted strings ("a b"@example.com) and backslash escapes inside
// them are kept as written; a word with an unclosed quote is dropped. An empty result means the value names no
// address.
func SplitAddresses(value string) []string {
	var out []string
	var cur strings.Builder
	var group []string // words of the current comma group
	routed := false    // the group had <...>: its other words are a phrase
	flushWord := func() {
		if w := cur.String(); w != "" && closed(w) {
			group = append(group, w) // a word with an unclosed quote is no address
		}
		cur.Reset()
	}
	flushGroup := func() {
		flushWord()
		if !routed {
			out = append(out, group...)
		}
		group, routed = group[:0], false
	}
	for i := 0; i < len(value); i++ {
		c := value[i]
		switch {
		case c == ',':
			flushGroup()
		case c == ' ' || c == '\t' || c == '\r' || c == '\n', c == ')', c == '>':
			flushWord() // a stray ")" or ">" separates too
		case c == '"':
			j := quotedEnd(value, i)
			cur.WriteString(value[i:j])
			i = j - 1
		case c == '(':
			flushWord()
			i = commentEnd(value, i) - 1
		case c == '<':
			flushWord()
			end := angleEnd(value, i) - i
			inner := SplitAddresses(value[i+1 : i+end])
			if !routed {
				group = group[:0]
			}
			routed = true
			out = append(out, inner...)
			i += end
		default:
			cur.WriteByte(c)
		}
	}
	flushGroup()
	return out
}

// quotedEnd returns the index just past the quoted string starting at
// s[i] == '"' (or len(s) when it is not closed).
func quotedEnd(s string, i int) int {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(s)
}

// closed reports whether every quoted string of w ends.
func closed(w string) bool {
	for j := 0; j < len(w); j++ {
		if w[j] == '"' {
			end := quotedEnd(w, j)
			if end == len(w) && (end-j < 2 || w[end-1] != '"' || escapedAt(w, j, end-1)) {
				return false
			}
			j = end - 1
		}
	}
	return true
}

// escapedAt reports whether s[k] is escaped by a backslash inside the
// quoted string that starts at s[from].
func escapedAt(s string, from, k int) bool {
	n := 0
	for j := k - 1; j > from && s[j] == '\\'; j-- {
		n++
	}
	return n%2 == 1
}

// angleEnd returns the index of the '>' that closes the '<' at s[i],
// skipping quoted strings (or len(s) when it is not closed).
func angleEnd(s string, i int) int {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '"':
			j = quotedEnd(s, j) - 1
		case '>':
			return j
		}
	}
	return len(s)
}

// commentEnd returns the index just past the (nested) comment starting
// at s[i] == '(' (or len(s) when it is not closed).
func commentEnd(s string, i int) int {
	depth := 0
	for j := i; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '(':
			depth++
		case ')':
			if depth--; depth == 0 {
				return j + 1
			}
		}
	}
	return len(s)
}

// errNonAddress is the cause of a table value that lists no address
// (Postfix: "lookup of ... returns non-address result").
func errNonAddress(v string) error {
	return fmt.Errorf("non-address result %q", clip(v, 100))
}
