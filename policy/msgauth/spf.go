package msgauth

import (
	"context"
	"net"
	"net/netip"
	"strings"

	"blitiri.com.ar/go/spf"
)

// SPFResult is the SPF (RFC 7208) check of one identity.
type SPFResult struct {
	// Result is one of Pass, Fail, SoftFail, Neutral, None, TempError
	// (DNS trouble), PermError (a broken record, more than 10 DNS
	// lookups or more than 2 void lookups, RFC 7208 section 4.6.4).
	Result Result
	// Identity is "mailfrom" or "helo" (RFC 7208 section 2.3, 2.4).
	Identity string
	// Domain is the domain checked: the MAIL FROM domain, or the HELO
	// name (also for the null sender, as RFC 7208 section 2.4 asks).
	Domain string
	// Reason says why, for logs.
	Reason string
}

// checkSPF checks ip against domain's SPF policy; sender is the MAIL
// FROM address ("postmaster@"+helo for the HELO identity and the null
// sender), for macros.
func checkSPF(ctx context.Context, d DNS, ip netip.Addr, helo, sender, domain, identity string) SPFResult {
	res, err := spf.CheckHostWithSender(net.IP(ip.Unmap().AsSlice()), helo, sender,
		spf.WithContext(ctx), spf.WithResolver(spfResolver{dns: d, ipv6: !ip.Unmap().Is4()}))
	r := SPFResult{Result: Result(res), Identity: identity, Domain: domain}
	if err != nil && res != spf.Pass {
		r.Reason = err.Error()
	}
	return r
}

// spfDomain returns the identity an SPF check can be made for: a domain
// name with a dot, not an address literal, as A-labels (an SMTPUTF8
// sender's U-labels are not what DNS holds).
func spfDomain(name string) (string, bool) {
	name = strings.TrimSuffix(name, ".")
	if name == "" || strings.HasPrefix(name, "[") || !strings.Contains(name, ".") {
		return "", false
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return "", false
	}
	return asciiDomain(name)
}
