package policy

import (
	"context"
	"strings"

	"github.com/mxrelay/mxrelay/lookup"
)

// DomainStatus is what DNS says about a recipient domain.
type DomainStatus int

// The domain statuses for reject_unknown_recipient_domain and
// reject_unknown_sender_domain.
const (
	DomainFound    DomainStatus = iota + 1 // MX, A or AAAA records exist
	DomainNotFound                         // NXDOMAIN, or no MX/A/AAAA
	DomainNullMX                           // a null MX (RFC 7505)
)

// Resolver answers whether a domain can receive mail (MX, then A/AAAA).
type Resolver interface {
	// MailDomain looks the domain up. An error is a temporary DNS
	// failure.
	MailDomain(ctx context.Context, domain string) (DomainStatus, error)
}

// ResolverFunc adapts a function to Resolver.
type ResolverFunc func(ctx context.Context, domain string) (DomainStatus, error)

// MailDomain calls f.
func (f ResolverFunc) MailDomain(ctx context.Context, domain string) (DomainStatus, error) {
	return f(ctx, domain)
}

// unknownDomain is reject_unknown_recipient_domain and, for the
// sender, reject_unknown_sender_domain: domains of this server (local,
// alias, virtual) and address literals are not looked up.
func (s *state) unknownDomain(ctx context.Context, subj subject, why Reason) status {
	var domain string
	var class lookup.Class
	if subj == subjRcpt {
		r := s.resolve(ctx)
		if r.err != nil {
			return s.lookupError(r.err, subjRcpt, why)
		}
		if s.rcpt.Domain == "" {
			return dunno
		}
		domain, class = r.domain, r.class
	} else {
		sender, ok := s.from()
		if !ok {
			return s.badSender()
		}
		domain = strings.TrimSuffix(sender.Domain, ".")
		if domain == "" {
			return dunno // the null sender, or a bare localpart
		}
		c, err := s.p.domains.Class(ctx, domain)
		if err != nil {
			return s.lookupError(err, subjSender, why)
		}
		class = c
	}
	if class != lookup.ClassRelay && class != lookup.ClassDefault || strings.HasPrefix(domain, "[") {
		return dunno
	}
	notFound, nullCode, nullDSN := "4.1.2", 556, "5.1.10"
	if subj == subjSender {
		notFound, nullCode, nullDSN = "4.1.8", 550, "5.7.27"
	}
	ds, err := s.p.cfg.Resolver.MailDomain(ctx, domain)
	switch {
	case err != nil:
		// smtpd_check.c reject_unknown_mailhost: 450 with the address
		// status, as defer_if_permit unless unknown_address_tempfail_action
		// = defer (golden lab unknowndomain, unknowndomain_defer).
		return s.tempfail(err, s.p.addrTempfailDefer, errPolicy, 450, notFound, s.rejectText(subj, "Domain not found"), why)
	case ds == DomainNotFound:
		return s.reject(errPolicy, s.p.unknownAddrCode, notFound, s.rejectText(subj, "Domain not found"), why)
	case ds == DomainNullMX:
		// Postfix's 4.7.27 and 4.1.10 with the class of the reply code.
		return s.reject(errPolicy, nullCode, nullDSN, s.rejectText(subj, "Domain "+domain+" does not accept mail (nullMX)"), why)
	}
	return dunno
}
