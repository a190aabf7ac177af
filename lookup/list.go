package lookup

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/mxrelay/mxrelay/internal/regfile"
)

// ListOptions configures ParseList.
type ListOptions struct {
	// Name is the parameter the list comes from ("relay_domains"), for
	// messages.
	Name string
	// ParentStyle is true when the parameter is listed in
	// parent_domain_matches_subdomains (Postfix 3.7: relay_domains,
	// mynetworks, smtpd_access_maps and others, but not mydestination or
	// the virtual domain lists). Then "example.com" also matches its
	// subdomains and ".example.com" matches nothing (Postfix's
	// match_ops.c; see TestListParentAndDotStyle). Otherwise
	// "example.com" matches only itself and ".example.com" matches its
	// strict subdomains.
	ParentStyle bool
	// Open is used for type:table patterns. Nil means default options.
	Open *OpenOptions
}

type listItem struct {
	negate  bool
	text    string // the pattern as written, for messages
	table   Table  // type:table
	pattern string // folded literal name
	prefix  netip.Prefix
	isNet   bool // pattern is an address or network
}

// List is a Postfix list parameter (match_list(3)): names, /file/name
// (expanded in place), type:table (looked up with the name and its parents,
// value ignored) and !negations; the first pattern that matches decides. It
// backs relay_domains, mydestination, the virtual domain lists and
// mynetworks. A nil *List matches nothing.
type List struct {
	name   string
	parent bool
	items  []listItem
}

// ParseList parses a list parameter value. Patterns are separated by
// commas and white space; a token starting with '#' ends the list with a
// warning, as Postfix does. Files are read and tables opened now; a missing
// file, a bad table or a network with host bits set is an error.
func ParseList(ctx context.Context, value string, o ListOptions) (*List, []Warning, error) {
	l := &List{name: o.Name, parent: o.ParentStyle}
	var warnings []Warning
	if err := l.parse(ctx, value, o, &warnings, 0); err != nil {
		return nil, warnings, err
	}
	return l, warnings, nil
}

func (l *List) parse(ctx context.Context, value string, o ListOptions, warnings *[]Warning, depth int) error {
	if depth > 10 {
		return fmt.Errorf("%s: files nested too deeply", o.Name)
	}
	for _, tok := range listTokens(value) {
		if strings.HasPrefix(tok, "#") {
			*warnings = append(*warnings, Warning{File: o.Name, Msg: fmt.Sprintf("comment at end of line is not supported: %s", tok)})
			return nil
		}
		it := listItem{text: tok}
		if strings.HasPrefix(tok, "!") {
			it.negate, tok = true, tok[1:]
			if tok == "" || tok[0] == '/' {
				return fmt.Errorf("%s: bad negated pattern %q", o.Name, it.text)
			}
		}
		switch {
		case tok[0] == '/':
			data, err := regfile.ReadFile(tok)
			if err != nil {
				return &Error{Table: o.Name, Kind: Config, Err: fmt.Errorf("open file %s: %w", tok, err)}
			}
			var lines []string
			for _, line := range strings.Split(string(data), "\n") {
				if t := strings.TrimSpace(line); t != "" && t[0] != '#' {
					lines = append(lines, t)
				}
			}
			if err := l.parse(ctx, strings.Join(lines, " "), o, warnings, depth+1); err != nil {
				return err
			}
			continue
		case isTableSpec(tok):
			t, err := Open(ctx, tok, o.Open)
			if err != nil {
				return err
			}
			it.table = t
		default:
			name := strings.TrimSuffix(FoldKey(tok), ".")
			if strings.Trim(name, ".") == "" {
				continue // dots alone name nothing
			}
			it.pattern = name
			if p, err := parseListNet(name); err == nil {
				it.prefix, it.isNet = p, true
			} else if looksNumeric(name) {
				return fmt.Errorf("%s: %v", o.Name, err)
			}
		}
		l.items = append(l.items, it)
	}
	return nil
}

// isTableSpec reports whether a list token is "type:name" rather than a
// name or an IPv6 address.
func isTableSpec(tok string) bool {
	typ, _, err := ParseSpec(tok)
	if err != nil || tok[0] == '[' {
		return false
	}
	// An IPv6 address like "2001:db8::1" also has a colon.
	if _, err := netip.ParseAddr(strings.SplitN(tok, "/", 2)[0]); err == nil {
		return false
	}
	return typ != ""
}

// looksNumeric reports whether a pattern is meant as an address or network.
func looksNumeric(s string) bool {
	if strings.HasPrefix(s, "[") || strings.Contains(s, "/") {
		return true
	}
	_, err := netip.ParseAddr(s)
	return err == nil
}

func parseListNet(s string) (netip.Prefix, error) {
	if !looksNumeric(s) {
		return netip.Prefix{}, fmt.Errorf("not a network")
	}
	return ParsePrefix(s)
}

// String returns the parameter name.
func (l *List) String() string { return l.name }

// MatchDomain reports whether a domain (or host name) matches the list.
// One trailing dot is ignored and case does not matter. A table error is
// returned as such: the caller must not treat it as "no match".
func (l *List) MatchDomain(ctx context.Context, domain string) (bool, error) {
	if l == nil {
		return false, nil
	}
	name := strings.TrimSuffix(FoldKey(domain), ".")
	if name == "" {
		return false, nil
	}
	for i := range l.items {
		it := &l.items[i]
		if it.isNet {
			// A network pattern names no domain, but its text is
			// compared as Postfix's match_hostname compares every
			// pattern: "relay_domains = [192.0.2.1]" matches the
			// address-literal domain [192.0.2.1].
			if name == it.pattern {
				return !it.negate, nil
			}
			continue
		}
		m, err := l.matchName(ctx, it, name)
		if err != nil {
			return false, err
		}
		if m {
			return !it.negate, nil
		}
	}
	return false, nil
}

// MatchClient reports whether a client matches a mynetworks-style list:
// each pattern is tried against the address (networks, addresses, cidr:
// and other tables) and against the host name (names, tables), unless the
// name is empty or "unknown".
func (l *List) MatchClient(ctx context.Context, ip netip.Addr, hostname string) (bool, error) {
	if l == nil {
		return false, nil
	}
	ip = ip.Unmap()
	name := strings.TrimSuffix(FoldKey(hostname), ".")
	if name == "unknown" {
		name = ""
	}
	// The address as a table key, made only when a table needs it: a
	// mynetworks of prefixes alone matches without allocating.
	addr := ""
	for i := range l.items {
		it := &l.items[i]
		var m bool
		var err error
		switch {
		case it.isNet:
			m = ip.IsValid() && it.prefix.Contains(ip)
		case it.table != nil:
			if addr == "" && ip.IsValid() {
				addr = ip.String()
			}
			if addr != "" {
				_, m, err = it.table.Lookup(ctx, addr)
			}
			if !m && err == nil && name != "" {
				m, err = l.matchName(ctx, it, name)
			}
		case name != "":
			m, err = l.matchName(ctx, it, name)
		}
		if err != nil {
			return false, wrapErr(it.table, addr, err)
		}
		if m {
			return !it.negate, nil
		}
	}
	return false, nil
}

// listTokens splits a list parameter at commas and white space, except
// inside braces, as Postfix's mystrtokq does: "inline:{ a=1, b=2 }, c"
// is the two tokens "inline:{ a=1, b=2 }" and "c". An unbalanced brace
// keeps the rest of the value in its token, for Open to reject.
func listTokens(value string) []string {
	var toks []string
	start, depth := -1, 0
	for i := 0; i < len(value); i++ {
		c := value[i]
		sep := depth == 0 && (c == ',' || isSpace(c))
		switch {
		case sep:
			if start >= 0 {
				toks = append(toks, value[start:i])
				start = -1
			}
			continue
		case c == '{':
			depth++
		case c == '}' && depth > 0:
			depth--
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		toks = append(toks, value[start:])
	}
	return toks
}

// matchName is Postfix's match_hostname for one pattern.
func (l *List) matchName(ctx context.Context, it *listItem, name string) (bool, error) {
	if it.table != nil {
		if IsPattern(it.table) {
			_, ok, err := it.table.Lookup(ctx, name)
			return ok, err
		}
		// The name, then its parents: "ex.com" (parent style) or
		// ".ex.com" (dot style).
		var buf [8]Key
		for _, k := range AppendDomainKeys(buf[:0], name, l.parent) {
			_, ok, err := it.table.Lookup(ctx, k.Key)
			if err != nil {
				return false, wrapErr(it.table, k.Key, err)
			}
			if ok {
				return true, nil
			}
		}
		return false, nil
	}
	p := it.pattern
	if p == "" {
		return false, nil
	}
	if name == p {
		return true, nil
	}
	if len(name) <= len(p) || !strings.HasSuffix(name, p) {
		return false, nil
	}
	if l.parent {
		// As match_ops.c: only "pattern is a dot-separated suffix of
		// name", so a literal ".example.com" matches nothing useful.
		return name[len(name)-len(p)-1] == '.', nil
	}
	return p[0] == '.', nil
}

// Class is a recipient address class (trivial-rewrite's resolve).
type Class int

// The address classes, in the order Postfix tries them (trivial-rewrite's
// resolve.c).
const (
	ClassLocal   Class = iota + 1 // mydestination, or [ip] of our own
	ClassAlias                    // virtual_alias_domains
	ClassVirtual                  // virtual_mailbox_domains
	ClassRelay                    // relay_domains
	ClassDefault                  // anything else
)

// String names the class as Postfix's resolver flags do.
func (c Class) String() string {
	switch c {
	case ClassLocal:
		return "local"
	case ClassAlias:
		return "alias"
	case ClassVirtual:
		return "virtual"
	case ClassRelay:
		return "relay"
	case ClassDefault:
		return "default"
	}
	return fmt.Sprintf("Class(%d)", int(c))
}

// Domains holds the domain lists that decide an address class, as in
// trivial-rewrite's resolve.c. Nil lists are empty.
type Domains struct {
	MyDestination         *List // mydestination
	VirtualAliasDomains   *List // virtual_alias_domains
	VirtualMailboxDomains *List // virtual_mailbox_domains
	RelayDomains          *List // relay_domains
	// Interfaces are our own addresses (inet_interfaces and
	// proxy_interfaces): "[ip]" address literals of these are local.
	Interfaces []netip.Addr
}

// Class returns the class of a recipient domain; the first match wins:
// local, alias, virtual, relay, default. One trailing dot is ignored and
// case does not matter. An empty domain is local (Postfix qualifies such
// addresses with $myorigin first). A table error is returned; the caller
// answers 451 4.3.0, as Postfix's smtpd does for a resolver failure.
func (d *Domains) Class(ctx context.Context, domain string) (Class, error) {
	domain = strings.TrimSuffix(domain, ".")
	if domain == "" {
		return ClassLocal, nil
	}
	if strings.HasPrefix(domain, "[") {
		if ip, ok := ParseAddressLiteral(domain); ok {
			for _, a := range d.Interfaces {
				if a.Unmap() == ip {
					return ClassLocal, nil
				}
			}
		}
	}
	for _, c := range []struct {
		l     *List
		class Class
	}{
		{d.MyDestination, ClassLocal},
		{d.VirtualAliasDomains, ClassAlias},
		{d.VirtualMailboxDomains, ClassVirtual},
		{d.RelayDomains, ClassRelay},
	} {
		m, err := c.l.MatchDomain(ctx, domain)
		if err != nil {
			return 0, err
		}
		if m {
			return c.class, nil
		}
	}
	return ClassDefault, nil
}

// ParseAddressLiteral parses "[192.0.2.1]" or "[ipv6:2001:db8::1]"
// (RFC 5321 4.1.3). Like Postfix's address resolver (resolve_local), it
// also accepts an IPv6 literal without the tag; syntax checks of what a
// client sends must not: Postfix's smtpd refuses "<u@[::1]>" and
// "HELO [::1]" (package policy does).
func ParseAddressLiteral(s string) (netip.Addr, bool) {
	if len(s) < 3 || s[0] != '[' || s[len(s)-1] != ']' {
		return netip.Addr{}, false
	}
	s = s[1 : len(s)-1]
	v6 := false
	if len(s) > 5 && strings.EqualFold(s[:5], "ipv6:") {
		s, v6 = s[5:], true
	}
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Zone() != "" || v6 && !ip.Is6() {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}
