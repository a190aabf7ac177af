package transport

import (
	"context"
	"strings"

	"github.com/miekg/dns"
)

// LookupTXT returns the TXT records of name, the strings of each record
// joined, in the order received (DNS lists give their reason there).
// NXDOMAIN and NODATA are *DNSError of kind DNSNotFound and DNSNoData.
func (d *DNS) LookupTXT(ctx context.Context, name string) ([]string, error) {
	rrs, err := d.lookup(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, strings.Join(rr.(*dns.TXT).Txt, ""))
	}
	return out, nil
}

// LookupPTR returns the names in the PTR records of a reverse name
// ("2.0.0.127.in-addr.arpa", or an ip6.arpa name), without the trailing
// dot.
func (d *DNS) LookupPTR(ctx context.Context, reverse string) ([]string, error) {
	return d.lookupNames(ctx, reverse, dns.TypePTR)
}

// LookupNS returns the name servers of name, without the trailing dot.
func (d *DNS) LookupNS(ctx context.Context, name string) ([]string, error) {
	return d.lookupNames(ctx, name, dns.TypeNS)
}

func (d *DNS) lookupNames(ctx context.Context, name string, qtype uint16) ([]string, error) {
	rrs, err := d.lookup(ctx, name, qtype)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		var n string
		switch r := rr.(type) {
		case *dns.PTR:
			n = r.Ptr
		case *dns.NS:
			n = r.Ns
		}
		out = append(out, strings.TrimSuffix(n, "."))
	}
	return out, nil
}

// wellTypedName reports whether rr is a usable TXT, PTR or NS record of
// qtype (wellTyped's other types).
func wellTypedName(rr dns.RR, qtype uint16) bool {
	switch r := rr.(type) {
	case *dns.TXT:
		return qtype == dns.TypeTXT
	case *dns.PTR:
		_, ok := dns.IsDomainName(r.Ptr)
		return qtype == dns.TypePTR && ok && r.Ptr != "."
	case *dns.NS:
		_, ok := dns.IsDomainName(r.Ns)
		return qtype == dns.TypeNS && ok && r.Ns != "."
	}
	return false
}
