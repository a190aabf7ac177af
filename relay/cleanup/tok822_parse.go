package cleanup

import "strings"

// Parser states, as tok822_parse.c's.
const (
	doWord  = 1 << 0 // a word may start a new address here
	doGroup = 1 << 1 // inside a named group
)

// unlink takes t out of its list and returns its predecessor.
func unlink(t *token) *token {
	p := t.prev
	if p != nil {
		p.next = t.next
	}
	if t.next != nil {
		t.next.prev = p
	}
	t.prev, t.next = nil, nil
	return p
}

// insertBefore puts t before at and returns t.
func insertBefore(at, t *token) *token {
	t.prev, t.next = at.prev, at
	if at.prev != nil {
		at.prev.next = t
	}
	at.prev = t
	return t
}

// group moves the tokens strictly between left and right into a new
// address token between them, preceded by a ',' when comma is set (a
// missing separator), as tok822_group. It returns left.
func group(left, right *token, comma bool) *token {
	first := left.next
	if left == right || first == right {
		return left
	}
	last := right.prev
	g := &token{kind: tokAddr, sub: first}
	first.prev, last.next = nil, nil
	for t := first; t != nil; t = t.next {
		t.owned = true
	}
	left.next, g.prev = g, left
	g.next, right.prev = right, g
	if comma {
		insertBefore(g, &token{kind: ','})
	}
	return left
}

// isOp reports whether k is one of the operator bytes in set.
func isOp(k tokKind, set string) bool {
	return k > 0 && k <= 0xff && strings.IndexByte(set, byte(k)) >= 0
}

// parseAddressList scans and groups a header value into addresses, as
// tok822_parse: right to left, comments moved beside the address they
// follow, "phrase <route-addr>", named groups, and a ',' put in where
// two addresses have none between them.
func parseAddressList(s string) *token {
	first := scanTokens(s)
	if first == nil {
		return nil
	}
	head, tail := &token{}, &token{}
	head.next, first.prev = first, head
	last := first
	for last.next != nil {
		last = last.next
	}
	last.next, tail.prev = tail, last
	state := doWord
	right := tail
	tp := tail.prev
	for tp.kind != 0 {
		switch {
		case tp.kind == tokComment:
			prev := unlink(tp)
			right = insertBefore(right, tp)
			tp = prev
			continue
		case tp.kind == ';':
			right = group(tp, right, true)
			state = doGroup | doWord
		case tp.kind == ':' && state&doGroup != 0:
			tp.kind = tokStartGrp
			group(tp, right, false)
			for tp.kind != 0 && tp.kind != ',' {
				tp = tp.prev
			}
			right = tp
			continue
		case tp.kind == '>':
			right = group(tp, right, true)
			for tp.kind != 0 && tp.kind != '<' {
				if tp.kind == tokComment {
					prev := unlink(tp)
					right = insertBefore(right, tp)
					tp = prev
					continue
				}
				tp = tp.prev
			}
			group(tp, right, false)
			for tp.kind != 0 && !isOp(tp.kind, ">;,:") {
				tp = tp.prev
			}
			right = tp
			state |= doWord
			continue
		case tp.kind == tokAtom || tp.kind == tokQString || tp.kind == tokDomLit:
			if state&doWord == 0 {
				right = group(tp, right, true).next
			}
			state &^= doWord
		case tp.kind == ',':
			right = group(tp, right, false)
			state |= doWord
		default:
			state |= doWord
		}
		tp = tp.prev
	}
	group(tp, right, false)
	first = head.next
	if first == tail {
		return nil
	}
	first.prev, tail.prev.next = nil, nil
	return first
}

// spaceAfter is tok822_append_space: a space after a top-level token
// when a '<' follows, after ',' and a group's ':', and between two
// words.
func spaceAfter(t *token) bool {
	n := t.next
	if n == nil || t.owned {
		return false
	}
	if t.kind == ',' || t.kind == tokStartGrp || n.kind == '<' {
		return true
	}
	return isWord(t) && isWord(n)
}

func isWord(t *token) bool {
	switch t.kind {
	case tokAtom, tokQString, tokComment, tokDomLit, tokAddr:
		return true
	}
	return false
}

// internal writes tokens in internal form (no quotes, no escapes), as
// tok822_internalize.
func internal(b *strings.Builder, t *token) {
	for ; t != nil; t = t.next {
		switch t.kind {
		case tokAddr:
			internal(b, t.sub)
		case tokComment, tokAtom, tokQString:
			b.WriteString(t.text)
		case tokDomLit:
			b.WriteString("[" + t.text + "]")
		case tokStartGrp:
			b.WriteByte(':')
		default:
			b.WriteByte(byte(t.kind))
		}
		if spaceAfter(t) {
			b.WriteByte(' ')
		}
	}
}

// nonAddrLimit is tok822_externalize's cap on the text beside an address
// in one comma-separated part (MAX_NONADDR_LENGTH): beyond it the part
// is cut to "<address>".
const nonAddrLimit = 250

// external writes tokens in external form, as tok822_externalize:
// addresses quoted as quote_822_local, quoted strings and domain
// literals escaped. lines puts each address after a comma on a line of
// its own (TOK822_STR_LINE); trunc applies nonAddrLimit (TOK822_STR_TRNC).
func external(b *strings.Builder, t *token, lines, trunc bool) {
	start, addrLen := b.Len(), 0
	var addr *token
	cut := func() {
		if trunc && addr != nil && b.Len()-addrLen > start+nonAddrLimit {
			s := b.String()[:start]
			b.Reset()
			b.WriteString(s + "<")
			if addr.kind == tokAddr {
				var in strings.Builder
				internal(&in, addr.sub)
				b.WriteString(quoteLocal822(in.String()))
			}
			b.WriteByte('>')
		}
	}
	for ; t != nil; t = t.next {
		switch t.kind {
		case ',':
			cut()
			b.WriteByte(',')
			if lines {
				b.WriteByte('\n')
			} else {
				b.WriteByte(' ')
			}
			start, addr, addrLen = b.Len(), nil, 0
			continue
		case tokAddr:
			addr = t
			var in strings.Builder
			internal(&in, t.sub)
			q := quoteLocal822(in.String())
			addrLen = len(q)
			b.WriteString(q)
		case tokAtom, tokComment:
			b.WriteString(t.text)
		case tokQString:
			b.WriteString(`"` + escape(t.text, "\"\\\r\n") + `"`)
		case tokDomLit:
			b.WriteString("[" + escape(t.text, "\\\r\n") + "]")
		case tokStartGrp:
			b.WriteByte(':')
		case '<':
			if t.next != nil && t.next.kind == '>' {
				addr, addrLen = t, 0
			}
			b.WriteByte('<')
		default:
			b.WriteByte(byte(t.kind))
		}
		if spaceAfter(t) {
			b.WriteByte(' ')
		}
	}
	cut()
}

// escape puts a backslash before each character of s in set.
func escape(s, set string) string {
	if !strings.ContainsAny(s, set) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(set, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// quoteLocal822 quotes the localpart of an internal-form address when it
// is not a dot-string, as quote_822_local (8-bit characters left alone).
func quoteLocal822(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	local, rest := addr, ""
	if at >= 0 {
		local, rest = addr[:at], addr[at:]
	}
	if isDotString(local) {
		return addr
	}
	return `"` + escape(local, "\"\\\r") + `"` + rest
}

func isDotString(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' || c < 32 || c == 127 || strings.IndexByte("()<>@,;:\\\"[]", c) >= 0 {
			return false
		}
	}
	return true
}

// addresses lists the address tokens of a parsed header, in order,
// inside groups too (tok822_grep).
func addresses(t *token) []*token {
	var out []*token
	for ; t != nil; t = t.next {
		if t.kind == tokAddr {
			out = append(out, t)
			out = append(out, addresses(t.sub)...)
		}
	}
	return out
}
