package relay

import (
	"context"
	"net/netip"
	"testing"

	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/transport"
	"github.com/mxrelay/mxrelay/transport/dnstest"
)

// BenchmarkRCPTThreeDNSBLs is one RCPT decision of a new SMTP session
// (a fresh policy.Session each time) with three DNS blocklists, through
// transport's caching resolver, for a client listed nowhere (NXDOMAIN
// answers, cached by the SOA's negative TTL) and for one listed on the
// third list (A and TXT answers cached by TTL).
func BenchmarkRCPTThreeDNSBLs(b *testing.B) {
	d, err := dnstest.Start()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	if err := d.AddZone(`
$TTL 300
bl1.test. IN SOA ns.test. h.test. 1 3600 600 86400 300
bl2.test. IN SOA ns.test. h.test. 1 3600 600 86400 300
bl3.test. IN SOA ns.test. h.test. 1 3600 600 86400 300
2.0.0.127.bl3.test. IN A 127.0.0.2
2.0.0.127.bl3.test. IN TXT "listed, see https://bl3.test/"
`); err != nil {
		b.Fatal(err)
	}
	dns, err := transport.NewDNS(transport.DNSConfig{Servers: []string{d.Addr()}, Cache: true})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	p, err := policy.New(ctx, policy.Config{
		MyHostname:                 "mx2.example.test",
		RelayDomains:               "example.test",
		RelayRecipientMaps:         "inline:{ u@example.test=OK }",
		DNS:                        dnsRecords{dns},
		SMTPDRecipientRestrictions: "reject_rbl_client bl1.test, reject_rbl_client bl2.test=127.0.0.[2..11], reject_rbl_client bl3.test",
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	for _, tc := range []struct{ name, client, reply string }{
		{"unlisted", "127.0.0.9", "250 2.1.5 Ok"},
		{"listed", "127.0.0.2", "554 5.7.1 Service unavailable; Client host [127.0.0.2] blocked using bl3.test; listed, see https://bl3.test/"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			req := policy.Request{Stage: policy.StageRcpt, ClientAddr: netip.MustParseAddr(tc.client),
				Helo: "client.example", Sender: "<s@sender.example>", Recipient: "<u@example.test>"}
			b.ReportAllocs()
			for b.Loop() {
				r := req
				r.Session = policy.NewSession()
				if d := p.Check(ctx, &r); d.Reply() != tc.reply {
					b.Fatalf("%s, want %s", d.Reply(), tc.reply)
				}
			}
		})
	}
}
