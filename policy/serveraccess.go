package policy

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/mxrelay/mxrelay/lookup"
)

// serverCheck is what one check_*_{mx,ns,a}_access restriction asks: the
// name it starts from and the DNS records it follows.
type serverCheck struct {
	target subject // whose name: client, reverse client, HELO, sender, recipient
	t      RRType  // TypeMX, TypeNS or TypeA
}

// serverCheckOf parses "check_<target>_<type>_access".
func serverCheckOf(name string) (serverCheck, bool) {
	rest, ok := strings.CutPrefix(name, "check_")
	if rest, ok2 := strings.CutSuffix(rest, "_access"); ok && ok2 {
		if i := strings.LastIndexByte(rest, '_'); i >= 0 {
			target, ok := serverTargets[rest[:i]]
			t, ok2 := serverTypes[rest[i+1:]]
			return serverCheck{target, t}, ok && ok2
		}
	}
	return serverCheck{}, false
}

var (
	serverTargets = map[string]subject{"client": subjClient, "reverse_client_hostname": subjRevClient,
		"helo": subjHelo, "sender": subjSender, "recipient": subjRcpt}
	serverTypes = map[string]RRType{"mx": TypeMX, "ns": TypeNS, "a": TypeA}
)

// maxServerHosts caps the MX or NS hosts one check follows, so that a
// hostile domain with hundreds of MX records costs a bounded number of
// lookups (each of which the session caches).
const maxServerHosts = 20

// serverAccess is check_{client,reverse_client_hostname,helo,sender,
// recipient}_{mx,ns,a}_access (smtpd_check.c check_server_access): the
// domain's MX hosts (the domain itself when it has none; nothing for a
// null MX), its NS hosts (those of the nearest parent that has some), or
// for _a_ the domain itself, are looked up in the table: each host's
// name and parents (not for _a_), then each of its addresses of the
// enabled families and their networks. An address literal is checked as
// its address (MX and A only). A DNS failure skips what it hides, as
// Postfix does: never a rejection. OK is refused with 451 4.3.5
// (forbid_allowlist). Golden lab serveraccess.
func (s *state) serverAccess(ctx context.Context, st *step, why Reason) status {
	c := st.server
	name, ok := s.serverTarget(c.target)
	if !ok {
		return dunno
	}
	defer s.dnsBudget()()
	status, _ := s.serverSearch(ctx, st, *c, name, why)
	return s.forbidAllowlist(status, why)
}

// serverTarget is the name a check starts from, and whether it applies:
// the verified or reverse client name (not "unknown"), the HELO name, the
// sender (not null), the recipient.
func (s *state) serverTarget(target subject) (string, bool) {
	switch target {
	case subjClient:
		n := s.req.ClientName
		return n, n != "" && !strings.EqualFold(n, "unknown")
	case subjRevClient:
		n := s.req.ReverseClientName
		return n, n != "" && !strings.EqualFold(n, "unknown")
	case subjHelo:
		return s.req.Helo, s.req.Helo != ""
	case subjSender:
		if s.req.Stage < StageMail {
			return "", false
		}
		sender, ok := s.from()
		if !ok || sender.IsNull() {
			return "", false
		}
		return sender.String(), true
	case subjRcpt:
		if !s.hasRcpt {
			return "", false
		}
		return s.rcpt.String(), true
	}
	return "", false
}

// serverSearch walks the hosts of name's domain; found reports a table
// entry (a DUNNO entry included) that decided.
func (s *state) serverSearch(ctx context.Context, st *step, c serverCheck, name string, why Reason) (status, bool) {
	domain := name
	if i := strings.LastIndexByte(name, '@'); i >= 0 {
		domain = name[i+1:]
	}
	domain = strings.TrimSuffix(domain, ".")
	subj := c.target
	if strings.HasPrefix(domain, "[") {
		// An address literal is its own MX host; it has no NS.
		ip, ok := literalAddr(domain)
		if !ok || c.t == TypeNS {
			return dunno, false
		}
		var kb [8]lookup.Key
		return s.searchAccess(ctx, st, addrKeys(kb[:0], ip), subj, true, why)
	}
	domain = strings.ToLower(domain)
	hosts := []string{domain}
	if c.t != TypeA {
		var err error
		hosts, err = s.serverHosts(ctx, domain, c.t)
		if err != nil {
			s.p.log.Info("unable to look up "+string(c.t)+" host", "restriction", why.Restriction, "domain", domain, "err", err)
			return dunno, false
		}
	}
	var kb [24]lookup.Key
	for _, h := range hosts {
		if ip, err := netip.ParseAddr(h); err == nil {
			if res, found := s.searchAccess(ctx, st, addrKeys(kb[:0], ip), subj, true, why); found {
				return res, true
			}
			continue
		}
		if c.t != TypeA {
			if res, found := s.searchAccess(ctx, st, serverNameKeys(kb[:0], h, s.p.parents), subj, true, why); found {
				return res, true
			}
		}
		addrs, err := s.hostAddrs(ctx, h)
		if err != nil {
			s.p.log.Info("unable to look up "+string(c.t)+" host address", "restriction", why.Restriction, "host", h, "err", err)
		}
		for _, a := range addrs {
			if res, found := s.searchAccess(ctx, st, addrKeys(kb[:0], a), subj, true, why); found {
				return res, true
			}
		}
	}
	return dunno, false
}

// serverHosts returns the MX or NS hosts of domain. A domain without MX
// records (or that does not exist) is its own MX host; a null MX has
// none. A name without NS records takes its nearest parent's.
func (s *state) serverHosts(ctx context.Context, domain string, t RRType) ([]string, error) {
	for d := domain; ; {
		hosts, err := s.dnsLookup(ctx, d, t)
		if err == nil && t == TypeMX {
			mxs := parseMXs(hosts)
			if isNullMX(mxs) {
				return nil, nil // RFC 7505
			}
			hosts = hosts[:0:0]
			for _, mx := range mxs {
				hosts = append(hosts, mx.host)
			}
		}
		switch {
		case err == nil:
			if len(hosts) > maxServerHosts {
				hosts = hosts[:maxServerHosts]
			}
			return hosts, nil
		case !errors.Is(err, ErrNoRecords):
			return nil, err
		case t == TypeMX:
			return []string{domain}, nil
		}
		i := strings.IndexByte(d, '.')
		if i < 0 || i+1 >= len(d) {
			return nil, err
		}
		d = d[i+1:]
	}
}

// hostAddrs returns the addresses of a host name, of the families
// inet_protocols enables (Config.Network), as Postfix's
// hostname_to_sockaddr. err is the first failure when none was found.
func (s *state) hostAddrs(ctx context.Context, host string) ([]netip.Addr, error) {
	var out []netip.Addr
	var first error
	for _, t := range s.p.addrTypes {
		rrs, err := s.dnsLookup(ctx, host, t)
		if err != nil && first == nil {
			first = err
		}
		for _, r := range rrs {
			if ip, err := netip.ParseAddr(r); err == nil {
				out = append(out, ip.Unmap())
			}
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	return nil, first
}

// serverNameKeys are a host name and its parents (check_domain_access
// with FULL, then PARTIAL).
func serverNameKeys(dst []lookup.Key, host string, parents bool) []lookup.Key {
	return lookup.AppendDomainKeys(dst, host, parents)
}

// literalAddr parses an address literal "[192.0.2.1]" or
// "[IPv6:2001:db8::1]".
func literalAddr(domain string) (netip.Addr, bool) {
	if len(domain) < 2 || domain[0] != '[' || domain[len(domain)-1] != ']' {
		return netip.Addr{}, false
	}
	a := domain[1 : len(domain)-1]
	if len(a) > 5 && strings.EqualFold(a[:5], "ipv6:") {
		a = a[5:]
	}
	ip, err := netip.ParseAddr(a)
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}

// mx is one MX record.
type mx struct {
	pref int
	host string
}

// parseMXs reads MX records in presentation form ("10 mx.example"),
// sorted by preference (stable: equal preferences keep DNS order).
// Records that do not parse are skipped.
func parseMXs(rrs []string) []mx {
	out := make([]mx, 0, len(rrs))
	for _, r := range rrs {
		p, h, ok := strings.Cut(r, " ")
		n, err := strconv.Atoi(p)
		h = strings.TrimSuffix(h, ".")
		if !ok || err != nil || n < 0 || n > 65535 || h != "" && (h[0] == '.' || h[len(h)-1] == '.' || strings.Contains(h, "..") || strings.ContainsAny(h, " \t")) {
			continue
		}
		if h == "" && !strings.HasSuffix(r, " .") {
			continue // "10 " names no host
		}
		out = append(out, mx{n, h})
	}
	slices.SortStableFunc(out, func(a, b mx) int { return a.pref - b.pref })
	return out
}

// isNullMX reports a null MX (RFC 7505): one record, host ".".
func isNullMX(mxs []mx) bool {
	return len(mxs) == 1 && mxs[0].host == ""
}
