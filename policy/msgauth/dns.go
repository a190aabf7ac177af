package msgauth

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/mxrelay/mxrelay/policy"
)

// DNS answers the DNS questions of SPF, DKIM and DMARC: TXT records (SPF
// and DMARC policies, DKIM keys), A and AAAA, MX and PTR (SPF
// mechanisms). It is policy.DNS: relay adapts transport's resolver to it
// once for policy and for this package; msgauth never imports transport.
// An error wrapping policy.ErrNoRecords means no such name or record;
// any other error is a temporary failure (temperror, never a rejection).
type DNS interface {
	// LookupRecords returns name's records of type t in presentation
	// form, as policy.DNS does: one string per TXT record (its strings
	// joined), host names without the final dot.
	LookupRecords(ctx context.Context, name string, t policy.RRType) ([]string, error)
}

// absent reports whether err means NXDOMAIN or NODATA.
func absent(err error) bool { return errors.Is(err, policy.ErrNoRecords) }

// netError turns a DNS failure into the *net.DNSError that go-msgauth
// and the SPF library classify: IsNotFound for an absent record,
// IsTemporary for everything else, so that a DNS problem is temperror
// (RFC 7208 section 2.6.6, RFC 6376 section 6.1.2), never a failure.
func netError(name string, err error) error {
	if err == nil {
		return nil
	}
	if absent(err) {
		return &net.DNSError{Err: "no such record", Name: name, IsNotFound: true}
	}
	return &net.DNSError{Err: err.Error(), Name: name, IsTemporary: true}
}

// txtLookup is the LookupTXT of go-msgauth's dkim and dmarc, which take
// no context.
func txtLookup(ctx context.Context, d DNS) func(string) ([]string, error) {
	return func(name string) ([]string, error) {
		txts, err := d.LookupRecords(ctx, name, policy.TypeTXT)
		return txts, netError(name, err)
	}
}

// spfResolver is the SPF library's resolver over DNS. It asks for A
// records always (the "exists" mechanism matches only IPv4 addresses,
// RFC 7208 section 5.7) and for AAAA only when the client is IPv6 (the
// "a" and "mx" mechanisms compare addresses of the client's family,
// RFC 7208 section 5.3).
type spfResolver struct {
	dns  DNS
	ipv6 bool
}

func (r spfResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	txts, err := r.dns.LookupRecords(ctx, name, policy.TypeTXT)
	return txts, netError(name, err)
}

func (r spfResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	hosts, err := r.dns.LookupRecords(ctx, name, policy.TypeMX)
	if err != nil {
		return nil, netError(name, err)
	}
	out := make([]*net.MX, 0, len(hosts))
	for _, h := range hosts {
		if h == "." || h == "" {
			continue // a null MX (RFC 7505) names no host
		}
		out = append(out, &net.MX{Host: h})
	}
	return out, nil
}

func (r spfResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	types := []policy.RRType{policy.TypeA}
	if r.ipv6 {
		types = append(types, policy.TypeAAAA)
	}
	var out []net.IPAddr
	found := false
	for _, t := range types {
		addrs, err := r.dns.LookupRecords(ctx, host, t)
		if err != nil {
			if absent(err) {
				continue
			}
			return nil, netError(host, err)
		}
		found = true
		for _, a := range addrs {
			if ip := net.ParseIP(a); ip != nil {
				out = append(out, net.IPAddr{IP: ip})
			}
		}
	}
	if !found {
		return nil, netError(host, policy.ErrNoRecords)
	}
	return out, nil
}

func (r spfResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return nil, &net.DNSError{Err: "bad address", Name: addr}
	}
	rev := reverseName(a)
	names, err := r.dns.LookupRecords(ctx, rev, policy.TypePTR)
	return names, netError(rev, err)
}

// reverseName is a's name under in-addr.arpa or ip6.arpa.
func reverseName(a netip.Addr) string {
	a = a.Unmap()
	var b strings.Builder
	if a.Is4() {
		v := a.As4()
		for i := 3; i >= 0; i-- {
			b.WriteString(strconv.Itoa(int(v[i])))
			b.WriteByte('.')
		}
		b.WriteString("in-addr.arpa")
		return b.String()
	}
	const hex = "0123456789abcdef"
	v := a.As16()
	for i := 15; i >= 0; i-- {
		b.WriteByte(hex[v[i]&0xf])
		b.WriteByte('.')
		b.WriteByte(hex[v[i]>>4])
		b.WriteByte('.')
	}
	b.WriteString("ip6.arpa")
	return b.String()
}
