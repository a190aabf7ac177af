package relay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/transport"
)

// dnsRecords answers policy's DNS questions (DNS lists, host names, the
// client's name) with transport's DNS client. NXDOMAIN and NODATA are
// policy.ErrNoRecords; every other failure stays a temporary error, which
// policy never turns into a 5xx.
type dnsRecords struct{ dns *transport.DNS }

func (r dnsRecords) LookupRecords(ctx context.Context, name string, t policy.RRType) ([]string, error) {
	var out []string
	var err error
	switch t {
	case policy.TypeA, policy.TypeAAAA:
		network := "ip4"
		if t == policy.TypeAAAA {
			network = "ip6"
		}
		var addrs []netip.Addr
		addrs, err = r.dns.LookupNetIP(ctx, network, name)
		for _, a := range addrs {
			out = append(out, a.String())
		}
	case policy.TypeTXT:
		out, err = r.dns.LookupTXT(ctx, name)
	case policy.TypeNS:
		out, err = r.dns.LookupNS(ctx, name)
	case policy.TypePTR:
		out, err = r.dns.LookupPTR(ctx, name)
	case policy.TypeMX:
		var mxs []*net.MX
		mxs, err = r.dns.LookupMX(ctx, name)
		for _, mx := range mxs {
			if mx.Host != "." {
				mx.Host = strings.TrimSuffix(mx.Host, ".")
			}
			out = append(out, strconv.Itoa(int(mx.Pref))+" "+mx.Host)
		}
	default:
		return nil, fmt.Errorf("relay: DNS record type %q is not supported", t)
	}
	if err != nil {
		var de *transport.DNSError
		if errors.As(err, &de) && de.Kind == transport.DNSNotFound {
			return nil, fmt.Errorf("%w: %w", policy.ErrNoSuchName, err)
		}
		if dnsAbsent(err) {
			return nil, fmt.Errorf("%w: %w", policy.ErrNoRecords, err)
		}
		return nil, err
	}
	return out, nil
}
