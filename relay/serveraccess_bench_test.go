package relay

import (
	"context"
	"net/netip"
	"testing"

	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/transport"
	"github.com/mxrelay/mxrelay/transport/dnstest"
)

// BenchmarkRCPTServerChecks is one RCPT decision with
// check_sender_mx_access (a network key), check_recipient_ns_access and
// permit_mx_backup (this host the recipient domain's second MX), through
// transport's caching resolver: for the first recipient of a new SMTP
// session (a fresh policy.Session: every name asked of the resolver's
// cache) and for a further recipient of the same session (answers from
// the session).
func BenchmarkRCPTServerChecks(b *testing.B) {
	d, err := dnstest.Start()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	if err := d.AddZone(`
$TTL 300
sender.test.       IN MX 10 mx1.sender.test.
sender.test.       IN MX 20 mx2.sender.test.
mx1.sender.test.   IN A 198.51.100.1
mx2.sender.test.   IN A 198.51.100.2
backup.test.       IN MX 10 primary.backup.test.
backup.test.       IN MX 20 mx2.example.test.
backup.test.       IN NS ns.backup.test.
ns.backup.test.    IN A 198.51.100.53
primary.backup.test. IN A 198.51.100.25
mx2.example.test.  IN A 192.0.2.2
`); err != nil {
		b.Fatal(err)
	}
	dns, err := transport.NewDNS(transport.DNSConfig{Servers: []string{d.Addr()}, Cache: true})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	p, err := policy.New(ctx, policy.Config{
		MyHostname:              "mx2.example.test",
		MyDestination:           "mx2.example.test",
		InetInterfaces:          "192.0.2.2",
		Network:                 "ip4",
		DNS:                     dnsRecords{dns},
		SMTPDSenderRestrictions: "check_sender_mx_access inline:{ {203.0.113 = REJECT bogus MX} }",
		SMTPDRelayRestrictions:  "check_recipient_ns_access inline:{ {ns.bad.test=REJECT} }, permit_mx_backup, reject_unauth_destination",
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	req := policy.Request{Stage: policy.StageRcpt, ClientAddr: netip.MustParseAddr("203.0.113.9"),
		Helo: "client.example", Sender: "<s@sender.test>", Recipient: "<u@backup.test>"}
	check := func(b *testing.B, r *policy.Request) {
		if d := p.Check(ctx, r); d.Reply() != "250 2.1.5 Ok" {
			b.Fatalf("%s (%v)", d.Reply(), d.Reason)
		}
	}
	b.Run("new session", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r := req
			r.Session = policy.NewSession()
			check(b, &r)
		}
	})
	b.Run("same session", func(b *testing.B) {
		r := req
		r.Session = policy.NewSession()
		check(b, &r)
		b.ReportAllocs()
		for b.Loop() {
			check(b, &r)
		}
	})
}
