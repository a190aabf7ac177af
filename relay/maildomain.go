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
// never reject mail for good. The A/AAAA fallback asks only the address
// families inet_protocols enables (network: "ip4", "ip6" or "ip"), as
// Postfix's reject_unknown_mailhost asks its dns_atype_list.
type mailDomains struct {
	dns     *transport.DNS
	network string
}

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
	network := m.network
	if network == "" {
		network = "ip"
	}
	addrs, err := m.dns.LookupNetIP(ctx, network, domain)
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
