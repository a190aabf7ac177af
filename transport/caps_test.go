package transport

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/mxrelay/mxrelay/internal/peertest"
	"github.com/mxrelay/mxrelay/transport/client"
)

// A domain listing many MX hosts costs at most MaxMXHosts address
// lookups (default 20), taken best first; the rest are never queried.
func TestMXHostCap(t *testing.T) {
	var zone strings.Builder
	zone.WriteString("$ORIGIN test.\n$TTL 300\n")
	for i := 1; i <= 60; i++ {
		// Listed worst first, to show the cap follows preference, not
		// the order of the answer.
		n := 61 - i
		fmt.Fprintf(&zone, "wide IN MX %d h%d.wide\nh%d.wide IN A 127.0.11.%d\n", n, n, n, n)
	}
	srv, r := newDNSServerZone(t, zone.String())
	for _, tc := range []struct{ max, want int }{{0, 20}, {5, 5}, {100, 60}} {
		c := &AddressConfig{Resolver: r, AddressLimit: -1, NoRandomize: true, MaxMXHosts: tc.max}
		a, err := resolveHop(t, c, "wide.test")
		if err != nil {
			t.Fatal(err)
		}
		if len(a.Dests) != tc.want {
			t.Fatalf("MaxMXHosts %d: %d addresses, want %d", tc.max, len(a.Dests), tc.want)
		}
		for i, d := range a.Dests {
			if d.Pref != i+1 {
				t.Fatalf("MaxMXHosts %d: address %d has preference %d", tc.max, i, d.Pref)
			}
		}
	}
	// Only the run with MaxMXHosts 100 looked up h21.
	if n := srv.Count("h21.wide.test", dns.TypeA, ""); n != 1 {
		t.Errorf("h21 looked up %d times, want once (only under MaxMXHosts 100)", n)
	}
}

// The try-next-address rules with peers that break mid-session: a primary
// that drops the connection while the content is in flight, and one that
// floods its EHLO reply, both pass the recipients on to the next MX;
// nothing is lost.
func TestDeliverPastBrokenPeers(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.w.route("127.0.20.1:25", peertest.Script(t, "220 a.three\r\n", func(cmd string) string {
		if cmd == "DATA" {
			return "354 go ahead\r\n" + peertest.DieInData
		}
		return basicReply(cmd)
	}))
	e.w.route("127.0.20.2:25", peertest.Script(t, "220 b.three\r\n", func(cmd string) string {
		if strings.HasPrefix(cmd, "EHLO") {
			return peertest.FloodLines
		}
		return basicReply(cmd)
	}))
	c := newPeer(t, &peer{})
	e.w.route("127.0.20.3:25", c.addr)
	m := message("u@three.test", "v@three.test")
	m.Body = strings.NewReader(strings.Repeat("A line of content.\r\n", 5000))
	m.Size = 5000 * 20
	d := e.agent.Deliver(context.Background(), smtpRoute("three.test"), m)
	for _, rr := range d.Recipients {
		wantRcpt(t, rr, client.Delivered, 250, "2.0.0", "c.three.test", "said: 250")
	}
	if got := triedHosts(d); !slices.Equal(got, []string{"127.0.20.1", "127.0.20.2", "127.0.20.3"}) {
		t.Fatalf("tried %v", got)
	}
	if got := c.messages(); len(got) != 1 || len(got[0].Data) != 5000*20 {
		t.Fatalf("c got %d messages", len(got))
	}
}

// basicReply answers a plain SMTP dialogue.
func basicReply(cmd string) string {
	switch strings.ToUpper(strings.SplitN(cmd, " ", 2)[0]) {
	case "EHLO":
		return "250-peer.test\r\n250 PIPELINING\r\n"
	case "DATA":
		return "354 go ahead\r\n"
	case "QUIT":
		return ""
	}
	return "250 2.0.0 Ok\r\n"
}

// A deferred recipient's status is 4.x.x even when the reply behind it is
// a 5xx greeting skipped as Postfix does (smtp_skip_5xx_greeting).
func TestDeliverSkipped5xxGreetingDefers(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.w.route("127.0.24.1:25", peertest.Script(t, "554 5.7.1 go away\r\n", func(string) string { return "" }))
	d := e.agent.Deliver(context.Background(), smtpRoute("dead.test"), message("u@dead.test"))
	wantRcpt(t, d.Recipients[0], client.Deferred, 554, "4.7.1", "mx.dead.test", "refused to talk to me: 554 5.7.1 go away")
}

// The DNS cache bounds the records it holds, not only its entries: ten
// records per entry on average (MaxCacheEntries × 10), so names with
// MaxRecords addresses each cannot fill memory a hundredfold.
func TestDNSCacheRecordBound(t *testing.T) {
	srv, _ := newDNSServer(t)
	for h := range 8 {
		for i := range 50 {
			if err := srv.Add(fmt.Sprintf("h%d.wide.test. 300 IN A 127.2.%d.%d", h, h, i+1)); err != nil {
				t.Fatal(err)
			}
		}
	}
	r, err := NewDNS(DNSConfig{Servers: []string{srv.Addr()}, Timeout: testDNSTimeout, Cache: true, MaxCacheEntries: 10})
	if err != nil {
		t.Fatal(err)
	}
	for h := range 8 {
		addrs, err := r.LookupNetIP(context.Background(), "ip4", fmt.Sprintf("h%d.wide.test", h))
		if err != nil || len(addrs) != 50 {
			t.Fatalf("h%d: %d addresses, %v", h, len(addrs), err)
		}
	}
	r.mu.Lock()
	n := 0
	for _, e := range r.entries {
		n += len(e.rrs)
	}
	r.mu.Unlock()
	if n > 100 {
		t.Fatalf("cache holds %d records, bound 100", n)
	}
	// The last answer is still cached.
	before := srv.Count("h7.wide.test", dns.TypeA, "")
	if _, err := r.LookupNetIP(context.Background(), "ip4", "h7.wide.test"); err != nil || srv.Count("h7.wide.test", dns.TypeA, "") != before {
		t.Fatalf("latest entry not cached: %v", err)
	}
}

// The MX host cap never splits a preference: past MaxMXHosts, the hosts
// of the same preference as the last one kept are looked up too (up to
// five times the cap), so this host is found among its equals by the
// backup-MX self check and the mail does not go round between
// equal-preference MX hosts.
func TestMXHostCapKeepsPreferenceWhole(t *testing.T) {
	var zone strings.Builder
	zone.WriteString("$ORIGIN test.\n$TTL 300\n")
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&zone, "flat IN MX 10 h%d.flat\nh%d.flat IN A 127.0.12.%d\n", i, i, i)
	}
	zone.WriteString("flat IN MX 10 us.flat\nus.flat IN A 127.0.0.1\n") // 31st, after the cap
	_, r := newDNSServerZone(t, zone.String())
	c := &AddressConfig{Resolver: r, MyAddresses: us, NoRandomize: true}
	a, err := resolveHop(t, c, "flat.test")
	wantStatus(t, err, "5.4.6", "mail for flat.test loops back to myself")
	if !a.IAmMX {
		t.Fatal("own address among equal-preference MX hosts not found")
	}
}
