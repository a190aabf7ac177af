package policy

import (
	"errors"
	"fmt"
	"strings"
)

// expandReply expands a reply template as Postfix's mac_expand does for
// default_rbl_reply and rbl_reply_maps: $name, ${name}, $(name),
// ${name?text}, ${name:text}, ${name?{text1}:{text2}} and $$. Text in a
// conditional is expanded in turn; values are not (they come from DNS
// and from the client). A name value returns is unknown makes the
// template bad, as in Postfix, which then uses default_rbl_reply.
// Relational expressions (${{a} == {b} ? ...}) are not supported: such
// a template is bad too.
func expandReply(tmpl string, value func(name string) (string, bool)) (string, error) {
	var b strings.Builder
	if err := expandInto(&b, tmpl, value, 0); err != nil {
		return "", err
	}
	return b.String(), nil
}

// maxExpandDepth bounds nested conditionals, as mac_expand bounds its
// recursion.
const maxExpandDepth = 20

func expandInto(b *strings.Builder, s string, value func(string) (string, bool), depth int) error {
	if depth > maxExpandDepth {
		return errors.New("unreasonable macro call nesting")
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' {
			b.WriteByte(c)
			i++
			continue
		}
		i++
		if i >= len(s) {
			b.WriteByte('$') // a lone '$' at the end stays
			break
		}
		switch s[i] {
		case '$':
			b.WriteByte('$')
			i++
		case '{', '(':
			end := matchClose(s, i)
			if end < 0 {
				return fmt.Errorf("missing %q in %q", closer(s[i]), s[i:])
			}
			if err := expandBraced(b, s[i+1:end], value, depth); err != nil {
				return err
			}
			i = end + 1
		default:
			n := nameLen(s[i:])
			if n == 0 {
				return fmt.Errorf("bad macro name at %q", s[i-1:])
			}
			v, ok := value(s[i : i+n])
			if !ok {
				return fmt.Errorf("unknown macro $%s", s[i:i+n])
			}
			b.WriteString(filterValue(v))
			i += n
		}
	}
	return nil
}

// expandBraced expands the inside of ${...}.
func expandBraced(b *strings.Builder, in string, value func(string) (string, bool), depth int) error {
	n := nameLen(in)
	if n == 0 {
		return fmt.Errorf("bad or unsupported macro ${%s}", in)
	}
	name, rest := in[:n], in[n:]
	v, ok := value(name)
	if !ok {
		return fmt.Errorf("unknown macro $%s", name)
	}
	if rest == "" {
		b.WriteString(filterValue(v))
		return nil
	}
	op, text := rest[0], rest[1:]
	if op != '?' && op != ':' {
		return fmt.Errorf("bad macro ${%s}", in)
	}
	t, f, two := splitBranches(text)
	if two && op == ':' {
		return fmt.Errorf("bad macro ${%s}", in)
	}
	if !two {
		t = unbraceText(text)
	}
	switch {
	case op == '?' && v != "":
		return expandInto(b, t, value, depth+1)
	case op == ':' && v == "":
		return expandInto(b, t, value, depth+1)
	case op == '?' && two:
		return expandInto(b, f, value, depth+1)
	}
	return nil
}

// splitBranches splits "{text1}:{text2}" or "{text1}:text2" (blanks
// around the braces ignored).
func splitBranches(s string) (t, f string, ok bool) {
	s = strings.TrimLeft(s, " \t")
	if !strings.HasPrefix(s, "{") {
		return "", "", false
	}
	end := matchClose(s, 0)
	if end < 0 {
		return "", "", false
	}
	rest := strings.TrimLeft(s[end+1:], " \t")
	if !strings.HasPrefix(rest, ":") {
		return "", "", false
	}
	return s[1:end], unbraceText(rest[1:]), true
}

// unbraceText removes "{ }" around a conditional's text, with the blanks
// outside them.
func unbraceText(s string) string {
	t := strings.Trim(s, " \t")
	if strings.HasPrefix(t, "{") && matchClose(t, 0) == len(t)-1 {
		return t[1 : len(t)-1]
	}
	return s
}

// matchClose returns the index of the bracket closing the one at open.
func matchClose(s string, open int) int {
	o := s[open]
	c := closer(o)
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case o:
			depth++
		case c:
			if depth--; depth == 0 {
				return i
			}
		}
	}
	return -1
}

func closer(o byte) byte {
	switch o {
	case '{':
		return '}'
	case '(':
		return ')'
	}
	return 0
}

// nameLen is the length of the macro name ([a-zA-Z0-9_]) at the start of s.
func nameLen(s string) int {
	n := 0
	for n < len(s) {
		c := s[n]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' {
			n++
			continue
		}
		break
	}
	return n
}

// filterValue replaces bytes outside smtpd_expand_filter's default (tab,
// space and printable ASCII) with '_', as Postfix filters values put into
// a reply.
func filterValue(v string) string {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c != '\t' && (c < 0x20 || c > 0x7e) {
			b := []byte(v)
			for j := i; j < len(b); j++ {
				if c := b[j]; c != '\t' && (c < 0x20 || c > 0x7e) {
					b[j] = '_'
				}
			}
			return string(b)
		}
	}
	return v
}
