package maincf

import (
	"slices"
	"strconv"
	"strings"
)

// maxExpandDepth bounds recursive expansion, as Postfix's mac_expand
// bounds it (it reports "unreasonable macro call nesting").
const maxExpandDepth = 100

// maxExpandWork bounds the work of one expansion (bytes produced plus
// references followed): "$a$a$a..." chains grow exponentially.
const maxExpandWork = 1 << 20

type expander struct {
	f      *File
	active map[string]bool // names being expanded, to stop loops
	work   int
	over   bool
	quiet  bool // record no warnings: Classify shows values it does not use
}

func (e *expander) warnf(format string, args ...any) {
	if !e.quiet {
		e.f.warnf(format, args...)
	}
}

// spend accounts for n units of work and reports whether the budget holds.
func (e *expander) spend(n int) bool {
	e.work += n
	if e.work > maxExpandWork {
		if !e.over {
			e.over = true
			e.warnf("%s: parameter expansion too large, truncated", e.f.name())
		}
		return false
	}
	return true
}

// expand performs Postfix's mac_expand on s.
func (e *expander) expand(s string, depth int) string {
	if !e.spend(len(s)) {
		return ""
	}
	if depth > maxExpandDepth || !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		ch := s[i]
		if ch != '$' || i+1 == len(s) {
			b.WriteByte(ch)
			i++
			continue
		}
		next := s[i+1]
		switch {
		case next == '$':
			b.WriteByte('$')
			i += 2
		case next == '{' || next == '(':
			closeCh := byte('}')
			if next == '(' {
				closeCh = ')'
			}
			end := matchBracket(s, i+1, next, closeCh)
			if end < 0 {
				e.warnf("%s: unbalanced %q in %q", e.f.name(), string(next), s)
				b.WriteString(s[i:])
				return b.String()
			}
			b.WriteString(e.expandBraced(s[i+2:end], depth))
			i = end + 1
		case isNameByte(next):
			j := i + 1
			for j < len(s) && isNameByte(s[j]) {
				j++
			}
			b.WriteString(e.value(s[i+1:j], depth))
			i = j
		default:
			b.WriteByte(ch)
			i++
		}
	}
	return b.String()
}

// matchBracket returns the index of the bracket closing the one at open.
func matchBracket(s string, open int, o, c byte) int {
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case o:
			depth++
		case c:
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// value expands parameter name.
func (e *expander) value(name string, depth int) string {
	if e.active[name] {
		e.warnf("%s: recursive reference to parameter %s", e.f.name(), name)
		return ""
	}
	raw, ok := e.f.values[name]
	if !ok {
		raw, ok = e.f.defaultValue(name)
	}
	if !ok {
		e.warnf("%s: undefined parameter: %s", e.f.name(), name)
		return ""
	}
	e.active[name] = true
	v := e.expand(raw, depth+1)
	delete(e.active, name)
	return v
}

// expandBraced expands the inside of "${...}".
func (e *expander) expandBraced(in string, depth int) string {
	if strings.HasPrefix(in, "{") {
		return e.relational(in, depth)
	}
	j := 0
	for j < len(in) && isNameByte(in[j]) {
		j++
	}
	name, rest := in[:j], in[j:]
	if name == "" {
		e.warnf("%s: bad macro expression: ${%s}", e.f.name(), in)
		return ""
	}
	if rest == "" {
		return e.value(name, depth)
	}
	op, text := rest[0], rest[1:]
	if op != '?' && op != ':' {
		e.warnf("%s: bad macro expression: ${%s}", e.f.name(), in)
		return ""
	}
	set := e.valueQuiet(name, depth) != ""
	if t, f, ok := splitChoice(text); ok && op == '?' {
		if set {
			return e.expand(t, depth+1)
		}
		return e.expand(f, depth+1)
	}
	if strings.HasPrefix(text, "{") && strings.HasSuffix(text, "}") && matchBracket(text, 0, '{', '}') == len(text)-1 {
		text = text[1 : len(text)-1]
	}
	if set == (op == '?') {
		return e.expand(text, depth+1)
	}
	return ""
}

// valueQuiet is value without the undefined-parameter warning, for the
// "${name?...}" tests.
func (e *expander) valueQuiet(name string, depth int) string {
	if _, ok := e.f.values[name]; !ok {
		if _, ok := e.f.defaultValue(name); !ok {
			return ""
		}
	}
	return e.value(name, depth)
}

// splitChoice splits "{t}:{f}" (white space allowed around ':').
func splitChoice(s string) (t, f string, ok bool) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "{") {
		return "", "", false
	}
	end := matchBracket(s, 0, '{', '}')
	if end < 0 {
		return "", "", false
	}
	t, rest := s[1:end], strings.TrimSpace(s[end+1:])
	if !strings.HasPrefix(rest, ":") {
		return "", "", false
	}
	rest = strings.TrimSpace(rest[1:])
	if !strings.HasPrefix(rest, "{") || matchBracket(rest, 0, '{', '}') != len(rest)-1 {
		return "", "", false
	}
	return t, rest[1 : len(rest)-1], true
}

// relational evaluates "{a} op {b} ? {t} : {f}".
func (e *expander) relational(in string, depth int) string {
	bad := func() string {
		e.warnf("%s: bad relational expression: ${%s}", e.f.name(), in)
		return ""
	}
	end := matchBracket(in, 0, '{', '}')
	if end < 0 {
		return bad()
	}
	lhs := strings.TrimSpace(e.expand(in[1:end], depth+1))
	rest := strings.TrimSpace(in[end+1:])
	opEnd := strings.IndexByte(rest, '{')
	if opEnd < 0 {
		return bad()
	}
	op := strings.TrimSpace(rest[:opEnd])
	rest = rest[opEnd:]
	end = matchBracket(rest, 0, '{', '}')
	if end < 0 {
		return bad()
	}
	rhs := strings.TrimSpace(e.expand(rest[1:end], depth+1))
	rest = strings.TrimSpace(rest[end+1:])
	if !strings.HasPrefix(rest, "?") {
		return bad()
	}
	t, f, ok := splitChoice(rest[1:])
	if !ok {
		// "? {t}" alone: nothing when false.
		r := strings.TrimSpace(rest[1:])
		if !strings.HasPrefix(r, "{") || matchBracket(r, 0, '{', '}') != len(r)-1 {
			return bad()
		}
		t, f = r[1:len(r)-1], ""
	}
	res, ok := compare(lhs, op, rhs)
	if !ok {
		return bad()
	}
	if res {
		return e.expand(t, depth+1)
	}
	return e.expand(f, depth+1)
}

// compare evaluates one relational operator of mac_expand.
func compare(a, op, b string) (bool, bool) {
	var cmp int
	if base, ok := strings.CutSuffix(op, "level"); ok {
		la, ok1 := parseLevel(a)
		lb, ok2 := parseLevel(b)
		if !ok1 || !ok2 {
			return false, false
		}
		cmp, op = slices.Compare(la, lb), base
	} else if op == "==" || op == "!=" {
		cmp = strings.Compare(a, b)
		if na, err1 := strconv.ParseInt(a, 10, 64); err1 == nil {
			if nb, err2 := strconv.ParseInt(b, 10, 64); err2 == nil {
				cmp = cmpInt(na, nb)
			}
		}
	} else {
		na, err1 := strconv.ParseInt(a, 10, 64)
		nb, err2 := strconv.ParseInt(b, 10, 64)
		if err1 != nil || err2 != nil {
			return false, false
		}
		cmp = cmpInt(na, nb)
	}
	switch op {
	case "==":
		return cmp == 0, true
	case "!=":
		return cmp != 0, true
	case "<":
		return cmp < 0, true
	case "<=":
		return cmp <= 0, true
	case ">":
		return cmp > 0, true
	case ">=":
		return cmp >= 0, true
	}
	return false, false
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// parseLevel parses a compatibility level "major[.minor[.patch]]".
func parseLevel(s string) ([]int, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 3 {
		return nil, false
	}
	out := make([]int, 3)
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, false
		}
		out[i] = n
	}
	return out, true
}

// paramRefs returns the parameter names a value refers to with $name,
// ${name...} or $(name...).
func paramRefs(v string) []string {
	var out []string
	for i := 0; i < len(v)-1; i++ {
		if v[i] != '$' {
			continue
		}
		j := i + 1
		if v[j] == '$' {
			i++
			continue
		}
		if v[j] == '{' || v[j] == '(' {
			j++
		}
		k := j
		for k < len(v) && isNameByte(v[k]) {
			k++
		}
		if k > j {
			out = append(out, v[j:k])
		}
	}
	return out
}

// isNameByte reports whether b can be part of a "$name" reference, as in
// Postfix's mac_parse: letters, digits and '_'.
func isNameByte(b byte) bool {
	return b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}
