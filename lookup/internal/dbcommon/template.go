package dbcommon

import (
	"fmt"
	"slices"
	"strings"
)

// Template is a query or result_format template with Postfix's
// %-expansions (db_common.c): %% a percent sign; %s the value (the key in
// a query, a result column in a result format); %u and %d its local part
// and domain; %S, %U, %D the same of the lookup key; %1..%9 the labels of
// the domain counted from the right (user@mail.example.com: %1 com, %2
// example, %3 mail).
type Template struct {
	format string
	query  bool
	need   need
	nparts int
}

type need int

const (
	needKeyDomain need = 1 << iota
	needKeyUser
	needValueDomain
	needValueUser
)

// ParseTemplates parses a query template and a result template together,
// as Postfix does (the result template may use %D and %U, which make the
// lookup need the key's parts).
func ParseTemplates(query, result string) (*Template, *Template, error) {
	qs, r, err := ParseTemplateSet([]string{query}, result)
	if err != nil {
		return nil, nil, err
	}
	return qs[0], r, nil
}

// ParseTemplateSet parses the query templates of a table (ldap: has two,
// search_base and query_filter) and its result template together: what
// one needs of the key, all need, as in Postfix's shared db_common
// context.
func ParseTemplateSet(queries []string, result string) ([]*Template, *Template, error) {
	var qs []*Template
	for _, q := range queries {
		qs = append(qs, &Template{format: q, query: true})
	}
	r := &Template{format: result}
	var shared need
	nparts := 0
	for _, t := range append(slices.Clone(qs), r) {
		for i := 0; i < len(t.format); i++ {
			if t.format[i] != '%' {
				continue
			}
			i++
			if i == len(t.format) {
				return nil, nil, fmt.Errorf("invalid %s template: %q", t.kind(), t.format)
			}
			switch c := t.format[i]; c {
			case '%', 's', 'S':
			case 'u':
				if t.query {
					shared |= needKeyUser
				} else {
					shared |= needValueUser
				}
			case 'd':
				if t.query {
					shared |= needKeyDomain
				} else {
					shared |= needValueDomain
				}
			case 'U':
				shared |= needKeyUser
			case 'D':
				shared |= needKeyDomain
			case '1', '2', '3', '4', '5', '6', '7', '8', '9':
				nparts = max(nparts, int(c-'0'))
				shared |= needKeyDomain
			default:
				return nil, nil, fmt.Errorf("invalid %s template: %q", t.kind(), t.format)
			}
		}
	}
	for _, t := range append(slices.Clone(qs), r) {
		t.need, t.nparts = shared, nparts
	}
	return qs, r, nil
}

// Dynamic reports whether the template expands anything (a search_base
// without %-expansions names one fixed entry).
func (t *Template) Dynamic() bool {
	for i := 0; i+1 < len(t.format); i++ {
		if t.format[i] == '%' {
			if t.format[i+1] != '%' {
				return true
			}
			i++
		}
	}
	return false
}

func (t *Template) kind() string {
	if t.query {
		return "query"
	}
	return "result"
}

// Quote quotes one expanded part for the server (SQL escaping); nil
// inserts it as it is.
type Quote func(string) string

// Expand expands the template. For a query template value is the lookup
// key and key is ignored; for a result template value is a result and key
// the lookup key. ok is false when Postfix skips the expansion: a key
// without the parts the template needs (no domain for %d, an empty local
// part for %u, too few labels for %9), or an empty value.
func (t *Template) Expand(value, key string, quote Quote) (out string, ok bool) {
	if value == "" {
		return "", false
	}
	if quote == nil {
		quote = func(s string) string { return s }
	}
	vuser, vdomain, vhas := splitAt(value)
	kuser, kdomain, khas := splitAt(key)
	partsOf := vdomain
	if t.query {
		if !checkParts(t.need&needKeyDomain != 0, t.need&needKeyUser != 0, vuser, vdomain, vhas) {
			return "", false
		}
	} else {
		if !checkParts(t.need&needValueDomain != 0, t.need&needValueUser != 0, vuser, vdomain, vhas) {
			return "", false
		}
		if !checkParts(t.need&needKeyDomain != 0, t.need&needKeyUser != 0, kuser, kdomain, khas) {
			return "", false // "lookup key skipped after query"
		}
		partsOf = kdomain
	}
	var parts []string
	if t.nparts > 0 {
		// Labels as Postfix's argv_split finds them: empty ones are
		// not labels ("mail..example.com" has three).
		parts = strings.FieldsFunc(partsOf, func(r rune) bool { return r == '.' })
		if len(parts) < t.nparts {
			return "", false
		}
	}
	var b strings.Builder
	for i := 0; i < len(t.format); i++ {
		c := t.format[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		i++
		switch c := t.format[i]; c {
		case '%':
			b.WriteByte('%')
		case 's':
			b.WriteString(quote(value))
		case 'u':
			b.WriteString(quote(userOr(value, vuser, vhas)))
		case 'd':
			b.WriteString(quote(vdomain))
		case 'S':
			b.WriteString(quote(pick(t.query, value, key)))
		case 'U':
			if t.query {
				b.WriteString(quote(userOr(value, vuser, vhas)))
			} else {
				b.WriteString(quote(userOr(key, kuser, khas)))
			}
		case 'D':
			b.WriteString(quote(pick(t.query, vdomain, kdomain)))
		default: // '1'..'9', checked by ParseTemplates
			b.WriteString(quote(parts[len(parts)-int(c-'0')]))
		}
	}
	return b.String(), true
}

// checkParts applies Postfix's rule: a template that needs a domain
// skips a string without one (or with an empty one), and one that needs a
// local part skips a string whose local part is empty.
func checkParts(needDomain, needUser bool, user, domain string, has bool) bool {
	if needDomain && (!has || domain == "") {
		return false
	}
	if needUser && has && user == "" {
		return false
	}
	return true
}

// splitAt splits s at its last '@'.
func splitAt(s string) (user, domain string, has bool) {
	i := strings.LastIndexByte(s, '@')
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}

func userOr(whole, user string, has bool) string {
	if has {
		return user
	}
	return whole
}

func pick(query bool, q, r string) string {
	if query {
		return q
	}
	return r
}
