package msgauth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/transport/dnstest"
)

// testDNS asks a dnstest server over TCP (no truncation), as relay's
// adapter over transport's resolver answers: NXDOMAIN and NODATA wrap
// policy.ErrNoRecords, any other failure is temporary.
type testDNS struct {
	addr string
	c    *dns.Client
}

var rrTypes = map[policy.RRType]uint16{
	policy.TypeA: dns.TypeA, policy.TypeAAAA: dns.TypeAAAA, policy.TypeTXT: dns.TypeTXT,
	policy.TypeMX: dns.TypeMX, policy.TypePTR: dns.TypePTR, policy.TypeNS: dns.TypeNS,
}

func (d testDNS) LookupRecords(ctx context.Context, name string, t policy.RRType) ([]string, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), rrTypes[t])
	in, _, err := d.c.ExchangeContext(ctx, m, d.addr)
	if err != nil {
		return nil, err
	}
	switch in.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		return nil, fmt.Errorf("%s: %w", name, policy.ErrNoRecords)
	default:
		return nil, fmt.Errorf("%s: rcode %s", name, dns.RcodeToString[in.Rcode])
	}
	var out []string
	for _, rr := range in.Answer {
		switch v := rr.(type) {
		case *dns.A:
			out = append(out, v.A.String())
		case *dns.AAAA:
			out = append(out, v.AAAA.String())
		case *dns.TXT:
			out = append(out, strings.Join(v.Txt, ""))
		case *dns.MX:
			out = append(out, strings.TrimSuffix(v.Mx, "."))
		case *dns.PTR:
			out = append(out, strings.TrimSuffix(v.Ptr, "."))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w", name, policy.ErrNoRecords)
	}
	return out, nil
}

// zone starts a dnstest server with records in zone-file form (owner
// names relative to the root, "example.org. 60 IN TXT ...").
func zone(t testing.TB, records ...string) (*dnstest.Server, testDNS) {
	t.Helper()
	s, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Add(records...); err != nil {
		t.Fatal(err)
	}
	return s, testDNS{addr: s.Addr(), c: &dns.Client{Net: "tcp"}}
}

// txt formats a TXT record of any length, split into 255-byte strings.
func txt(owner, text string) string {
	var parts []string
	for len(text) > 255 {
		parts = append(parts, `"`+text[:255]+`"`)
		text = text[255:]
	}
	parts = append(parts, `"`+text+`"`)
	return dns.Fqdn(owner) + " 60 IN TXT " + strings.Join(parts, " ")
}

func TestTestDNSAbsent(t *testing.T) {
	_, d := zone(t, "a.example. 60 IN A 192.0.2.1")
	if _, err := d.LookupRecords(t.Context(), "a.example", policy.TypeTXT); !errors.Is(err, policy.ErrNoRecords) {
		t.Errorf("NODATA: %v", err)
	}
	if _, err := d.LookupRecords(t.Context(), "b.example", policy.TypeA); !errors.Is(err, policy.ErrNoRecords) {
		t.Errorf("NXDOMAIN: %v", err)
	}
}
