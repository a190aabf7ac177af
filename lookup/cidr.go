package lookup

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/mxrelay/mxrelay/internal/regfile"
)

// ParsePrefix parses a network as Postfix writes it in cidr tables and
// mynetworks: "192.0.2.0/24", "192.0.2.1" (a host), "2001:db8::/32",
// "[2001:db8::]/32", "[::1]". A network with host bits set is an error
// that says which network was meant ("non-null host address bits"), as
// Postfix reports it; we refuse it instead of matching nothing.
func ParsePrefix(s string) (netip.Prefix, error) {
	addr, bits, hasBits := strings.Cut(s, "/")
	if strings.HasPrefix(addr, "[") {
		if !strings.HasSuffix(addr, "]") {
			return netip.Prefix{}, fmt.Errorf("bad network %q: missing ']'", s)
		}
		addr = addr[1 : len(addr)-1]
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil || ip.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("bad network %q: not an IP address", s)
	}
	// An IPv4-mapped IPv6 pattern stays IPv6, as in Postfix: postmap -q
	// finds "::ffff:192.0.2.1" in "::ffff:192.0.2.0/120", not 192.0.2.1.
	if !hasBits {
		return netip.PrefixFrom(ip, ip.BitLen()), nil
	}
	p, err := netip.ParsePrefix(ip.String() + "/" + bits)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("bad network %q: bad mask length", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("non-null host address bits in %q, perhaps you should use %q instead", s, p.Masked().String())
	}
	return p, nil
}

// cidrRule is one line of a cidr table.
type cidrRule struct {
	prefix netip.Prefix
	negate bool
	value  string
	// if/endif blocks: a rule with block set skips to its endif when it
	// does not match.
	block  bool
	endIdx int
}

// CIDRTable is a cidr: table (cidr_table(5)): each line "network value",
// "!network value", or "if network" ... "endif"; the first matching line
// wins. Keys that are not IP addresses are not found. It reloads when its
// file changes.
type CIDRTable struct {
	*reloader[[]cidrRule]
}

func openCIDR(_ context.Context, path string, o *OpenOptions) (Table, error) {
	spec := "cidr:" + path
	r, err := newReloader(spec, path, o, func(p string) ([]cidrRule, []Warning, error) {
		f, err := regfile.Open(p)
		if err != nil {
			return nil, nil, err
		}
		defer f.Close()
		return parseCIDR(f, p)
	})
	if err != nil {
		return nil, err
	}
	return CIDRTable{r}, nil
}

func parseCIDR(f *os.File, name string) ([]cidrRule, []Warning, error) {
	var rules []cidrRule
	var stack []int
	ifLines := map[int]int{} // rule index of an IF -> its line
	var warnings []Warning
	var perr error
	err := readLogicalLines(f, name, &warnings, func(lineno int, line string) {
		if perr != nil {
			return
		}
		fail := func(format string, args ...any) {
			perr = fmt.Errorf("%s, line %d: %s", name, lineno, fmt.Sprintf(format, args...))
		}
		pat, rest := cutSpace(line)
		switch strings.ToLower(pat) {
		case "endif":
			if len(stack) == 0 {
				warnings = append(warnings, Warning{File: "cidr map " + name, Line: lineno, Msg: "ENDIF without IF: skipping this rule"})
				return
			}
			rules[stack[len(stack)-1]].endIdx = len(rules)
			stack = stack[:len(stack)-1]
			return
		case "if":
			pat, rest = rest, ""
			if strings.ContainsAny(pat, " \t") {
				fail("garbage after IF pattern")
				return
			}
			stack = append(stack, len(rules))
			ifLines[len(rules)] = lineno
		}
		r := cidrRule{block: len(stack) > 0 && stack[len(stack)-1] == len(rules)}
		if strings.HasPrefix(pat, "!") {
			r.negate, pat = true, pat[1:]
		}
		p, err := ParsePrefix(pat)
		if err != nil {
			fail("%v", err)
			return
		}
		r.prefix = p
		if !r.block {
			if rest == "" {
				fail("no lookup result")
				return
			}
			r.value = rest
		}
		rules = append(rules, r)
	})
	if err == nil {
		err = perr
	}
	// An IF without ENDIF guards the rest of the file, as in Postfix.
	if err == nil {
		for _, i := range stack {
			rules[i].endIdx = len(rules)
			warnings = append(warnings, Warning{File: "cidr map " + name, Line: ifLines[i], Msg: "IF has no matching ENDIF"})
		}
	}
	return rules, warnings, err
}

// Lookup returns the value of the first network that contains key.
func (t CIDRTable) Lookup(_ context.Context, key string) (string, bool, error) {
	rules := t.get().v
	// As Postfix, an IPv4-mapped IPv6 key is not unmapped here (smtpd
	// unmaps client addresses before it looks them up), and a rule of the
	// other address family never matches, negated or not.
	// Nor are brackets removed: postmap -q "[::1]" finds nothing.
	ip, err := netip.ParseAddr(key)
	if err != nil || ip.Zone() != "" {
		return "", false, nil
	}
	for i := 0; i < len(rules); i++ {
		r := &rules[i]
		match := r.prefix.Addr().Is4() == ip.Is4() && r.prefix.Contains(ip) != r.negate
		if r.block {
			if !match {
				i = r.endIdx - 1
			}
			continue
		}
		if match {
			return checkValue(t.spec, key, r.value)
		}
	}
	return "", false, nil
}

// cutSpace splits a line at its first run of whitespace; both parts are
// trimmed.
func cutSpace(line string) (first, rest string) {
	line = strings.TrimSpace(line)
	i := strings.IndexAny(line, " \t\r\v\f")
	if i < 0 {
		return line, ""
	}
	return line[:i], strings.TrimSpace(line[i:])
}
