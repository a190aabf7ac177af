package cleanup

import (
	"context"
	"strings"
)

// headerClass is the address class of a header field name, as Postfix's
// header_opts.c flags it: HeaderSender, HeaderRecipient, or 0 for a
// header that holds no address to rewrite.
func headerClass(name string) Classes {
	switch strings.ToLower(name) {
	case "from", "sender", "reply-to", "errors-to", "return-path", "return-receipt-to",
		"disposition-notification-to", "mail-followup-to", "resent-from", "resent-sender":
		return HeaderSender
	case "to", "cc", "bcc", "apparently-to", "resent-to", "resent-cc", "resent-bcc", "resent-reply-to":
		return HeaderRecipient
	}
	return 0
}

// Header rewrites one header field of a message from a client of
// local_header_rewrite_clients, as Postfix's cleanup_rewrite_sender and
// cleanup_rewrite_recip: in each address of an address header,
// trivial-rewrite's local context (a source route dropped, a!b and
// user%domain turned around, @$myorigin added to a bare localpart, a
// trailing dot dropped), then the canonical maps whose classes include
// the header's class (header_sender or header_recipient). A field that
// changes is written again in Postfix's form, one address after another,
// folded before 70 columns; any other field comes back as it was. field
// is "Name: value", continuation lines joined by "\n" without CR.
func (cl *Cleanup) Header(ctx context.Context, queueID, field string) (string, bool, error) {
	name, value, ok := strings.Cut(field, ":")
	if !ok {
		return field, false, nil
	}
	class := headerClass(name)
	if class == 0 {
		return field, false, nil
	}
	own, ownClasses, ownDef := cl.senderCanon, cl.c.SenderCanonicalClasses, EnvelopeSender|HeaderSender
	if class == HeaderRecipient {
		own, ownClasses, ownDef = cl.rcptCanon, cl.c.RecipientCanonicalClasses, EnvelopeRecipient|HeaderRecipient
	}
	tree := parseAddressList(value)
	changed := false
	for _, a := range addresses(tree) {
		var b strings.Builder
		external(&b, a.sub, false, false)
		addr := b.String()
		if r := cl.rewriteLocal(addr); r != addr {
			addr, changed = r, true
		}
		mapped, err := cl.canonical(ctx, queueID, addr, class, own, ownClasses, ownDef)
		if err != nil {
			return field, false, err
		}
		if mapped != addr {
			changed = true
		}
		a.sub = scanTokens(mapped)
	}
	if !changed {
		return field, false, nil
	}
	var b strings.Builder
	b.WriteString(name + ": ")
	external(&b, tree, true, true)
	return fold(b.String()), true, nil
}

// fold joins the one-address lines of a rewritten header while the line
// stays under 70 characters, and indents the others with a tab, as
// cleanup_fold_header and cleanup_out_header.
func fold(s string) string {
	lines := strings.Split(s, "\n")
	var b strings.Builder
	lineLen := 0
	for i, l := range lines {
		switch {
		case i == 0:
			b.WriteString(l)
			lineLen = len(l)
		case lineLen+1+len(l) < 70:
			b.WriteString(" " + l)
			lineLen += 1 + len(l)
		default:
			b.WriteString("\n")
			if l == "" || l[0] != ' ' && l[0] != '\t' {
				b.WriteByte('\t')
			}
			b.WriteString(l)
			lineLen = len(l)
		}
	}
	return b.String()
}

// rewriteLocal is trivial-rewrite's rewrite_tree in the local context
// for one address in external form.
func (cl *Cleanup) rewriteLocal(addr string) string {
	first := scanTokens(addr)
	if first == nil {
		return addr
	}
	var toks []*token
	for t := first; t != nil; t = t.next {
		toks = append(toks, t)
	}
	if len(toks) == 1 && toks[0].kind == tokQString && toks[0].text == "" {
		return addr
	}
	if len(toks) == 1 && toks[0].kind == '@' {
		toks = []*token{{kind: tokQString}}
	}
	if toks[0].kind == '@' {
		for i, t := range toks {
			if t.kind == ':' && i < len(toks)-1 {
				toks = toks[i+1:] // a source route
				break
			}
		}
	}
	if lastKind(toks, '@') < 0 {
		switch bang, pct := firstKind(toks, '!'), lastKind(toks, '%'); {
		case cl.c.SwapBangpath && bang >= 0:
			toks = append(append(append([]*token{}, toks[bang+1:]...), &token{kind: '@'}), toks[:bang]...)
		case cl.c.PercentHack && pct >= 0:
			toks[pct] = &token{kind: '@'}
		case cl.c.MyOrigin != "":
			toks = append(toks, &token{kind: '@'})
			for t := scanTokens(cl.c.MyOrigin); t != nil; t = t.next {
				toks = append(toks, t)
			}
		}
	}
	if n := len(toks); n > 1 && toks[n-1].kind == '.' && toks[n-2].kind != '.' && toks[n-2].kind != '@' {
		toks = toks[:n-1]
	}
	for i := range toks {
		toks[i].prev, toks[i].next, toks[i].owned = nil, nil, false
		if i > 0 {
			toks[i-1].next, toks[i].prev = toks[i], toks[i-1]
		}
	}
	var b strings.Builder
	external(&b, toks[0], false, false)
	return b.String()
}

func firstKind(toks []*token, k tokKind) int {
	for i, t := range toks {
		if t.kind == k {
			return i
		}
	}
	return -1
}

func lastKind(toks []*token, k tokKind) int {
	for i := len(toks) - 1; i >= 0; i-- {
		if toks[i].kind == k {
			return i
		}
	}
	return -1
}

// isBodyLine reports whether a line cannot be in the header: a
// continuation without a field, or a line that is not "name:".
func isBodyLine(line string, inField bool) bool {
	if line[0] == ' ' || line[0] == '\t' {
		return !inField
	}
	name, _, ok := strings.Cut(line, ":")
	return !ok || name == "" || strings.ContainsAny(name, " \t")
}
