package policy

import (
	"context"
	"net/netip"
	"strings"

	"github.com/mxrelay/mxrelay/lookup"
)

// resolution is the recipient as Postfix's resolver sees it.
type resolution struct {
	done   bool
	canon  string // local@domain, qualified with $myorigin, no trailing dot
	domain string // canonical domain
	class  lookup.Class
	routed bool // the resolved localpart still holds '@', '!' or '%'
	bad    bool // a local address whose localpart routes to no valid domain
	err    error
}

// resolve computes the recipient's canonical form and class once.
func (s *state) resolve(ctx context.Context) *resolution {
	r := &s.res
	if r.done {
		return r
	}
	s.p.resolveAddr(ctx, r, s.rcpt, s.req.SMTPUTF8)
	return r
}

// resolveAddr fills r for address a, as trivial-rewrite's resolver:
// canonical form, class, and where a local address's localpart routes.
func (p *Policy) resolveAddr(ctx context.Context, r *resolution, a Address, smtputf8 bool) {
	r.done = true
	domain := strings.TrimSuffix(a.Domain, ".")
	switch {
	case a.Domain == "":
		domain = p.myorig
		if domain != "" {
			r.canon = a.Local + "@" + domain
		} else {
			r.canon = a.Local
		}
	case len(domain) == len(a.Domain):
		r.canon = a.String()
	default:
		r.canon = a.Local + "@" + domain
	}
	r.domain = domain
	if mappedLiteral(domain) {
		// "[IPv6:::ffff:127.0.0.1]" is not one of our addresses for
		// Postfix (golden case addr); lookup would unmap it.
		d := p.domains
		d.Interfaces = nil
		r.class, r.err = d.Class(ctx, domain)
	} else {
		r.class, r.err = p.domains.Class(ctx, domain)
	}
	// A local address whose localpart routes elsewhere
	// ("user@site"@local always; "site!user@local" with swap_bangpath,
	// "user%site@local" with allow_percent_hack) is resolved there, as
	// trivial-rewrite's resolve loop does (golden configurations bang,
	// review). An '@' in the localpart comes first and disables the other
	// two; the domain it names must be a valid host name or address
	// literal, else the address is a syntax error (501), and a trailing
	// '@' is dropped when another '@' remains.
	local := a.Local
	for r.err == nil && r.class == lookup.ClassLocal {
		if i := strings.LastIndexByte(local, '@'); i >= 0 {
			if i == len(local)-1 {
				local = local[:i]
				if i = strings.LastIndexByte(local, '@'); i < 0 {
					r.bad = true
					break
				}
			}
			domain = strings.TrimSuffix(local[i+1:], ".")
			if domain == "" || checkDomain(domain, smtputf8) != "" {
				r.bad = true
				break
			}
			local = local[:i]
		} else if i := strings.IndexByte(local, '!'); p.swapBang && i > 0 && i < len(local)-1 {
			domain, local = local[:i], local[i+1:]
		} else if i := strings.LastIndexByte(local, '%'); p.percentHack && i > 0 && i < len(local)-1 {
			local, domain = local[:i], local[i+1:]
		} else {
			break
		}
		r.canon, r.domain = local+"@"+domain, domain
		r.class, r.err = p.domains.Class(ctx, domain)
	}
	// The address is source-routed when its final localpart still
	// routes (allow_untrusted_routing).
	r.routed = strings.ContainsAny(local, "@!%")
}

// mappedLiteral reports whether d is an IPv4-mapped IPv6 address literal.
func mappedLiteral(d string) bool {
	if len(d) < 8 || d[0] != '[' || !strings.EqualFold(d[1:6], "ipv6:") || d[len(d)-1] != ']' {
		return false
	}
	ip, err := netip.ParseAddr(d[6 : len(d)-1])
	return err == nil && ip.Is4In6()
}

// authDestination is permit_auth_destination: the recipient's class is
// local, alias, virtual or relay, and the localpart is not source-routed.
// A resolver failure gives a 451 and status rejected.
func (s *state) authDestination(ctx context.Context) (bool, status) {
	r := s.resolve(ctx)
	if r.err != nil {
		return false, s.lookupError(r.err, subjRcpt, Reason{Restriction: "resolve", Value: r.domain})
	}
	if !s.p.cfg.AllowUntrustedRouting && r.routed {
		return false, dunno
	}
	return r.class != lookup.ClassDefault, dunno
}
