package relay

import (
	"context"
	"errors"

	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/transport"
)

// mailDomains answers policy's reject_unknown_recipient_domain (and
// reject_unknown_sender_domain) question with transport's DNS client: MX
// records first, then A/AAAA, as reject_unknown_mailhost in Postfix's
// smtpd_check.c does. A null MX (RFC 7505) is reported as such. Only
// NXDOMAIN and "no data" mean the domain is unknown; any other failure
// (SERVFAIL, a timeout, REFUSED, a malformed answer) is returned as an
// error, which policy turns into a deferral: a DNS problem of ours must
// never reject mail for good. The A/AAAA fallback asks both families
// whatever inet_protocols says, as Postfix 3.7 does (smtpd_check.c asks
// T_MX, T_A, T_AAAA; golden lab unknowndomain_families: an AAAA-only
// domain is found with inet_protocols = ipv4).
type mailDomains struct{ dns *transport.DNS }

func (m mailDomains) MailDomain(ctx context.Context, domain string) (policy.DomainStatus, error) {
	mxs, err := m.dns.LookupMX(ctx, domain)
	switch {
	case err == nil && len(mxs) == 1 && mxs[0].Host == ".":
		return policy.DomainNullMX, nil
	case err == nil && len(mxs) > 0:
		return policy.DomainFound, nil
	case err != nil && !dnsAbsent(err):
		return 0, err
	}
	addrs, err := m.dns.LookupNetIP(ctx, "ip", domain)
	switch {
	case len(addrs) > 0:
		return policy.DomainFound, nil
	case err != nil && !dnsAbsent(err):
		return 0, err
	}
	return policy.DomainNotFound, nil
}

// dnsAbsent reports whether err says that the name or the record type does
// not exist, as opposed to a failure to find out.
func dnsAbsent(err error) bool {
	var de *transport.DNSError
	return errors.As(err, &de) && (de.Kind == transport.DNSNotFound || de.Kind == transport.DNSNoData)
}
