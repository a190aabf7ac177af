package policy

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// countingDNS answers from a zone and counts the questions asked.
type countingDNS struct {
	mu   sync.Mutex
	zone map[string][]string // "name TYPE" -> records
	n    int
}

func (d *countingDNS) LookupRecords(ctx context.Context, name string, t RRType) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.n++
	if rrs, ok := d.zone[name+" "+string(t)]; ok {
		return rrs, nil
	}
	return nil, fmt.Errorf("%s %s: %w", name, t, ErrNoRecords)
}

func (d *countingDNS) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n
}

// A hostile sender domain with hundreds of MX hosts costs a bounded
// number of DNS questions, and the session asks none of them twice.
func TestServerAccessBounded(t *testing.T) {
	var mxs []string
	for i := range 300 {
		mxs = append(mxs, fmt.Sprintf("%d mx%d.hostile.example", i, i))
	}
	d := &countingDNS{zone: map[string][]string{"hostile.example MX": mxs}}
	c := backupMX()
	c.DNS = d
	c.SMTPDSenderRestrictions = "check_sender_mx_access inline:{ 198.51.100.1=REJECT, mx299.hostile.example=REJECT }"
	p := mustNew(t, c)
	sess := NewSession()
	req := func() *Request {
		return &Request{Stage: StageRcpt, ClientAddr: netip.MustParseAddr("203.0.113.1"), Helo: "client.example",
			Sender: "<a@hostile.example>", Recipient: "<user1@backup.example>", Session: sess}
	}
	wantReply(t, p.Check(context.Background(), req()), "250 2.1.5 Ok")
	first := d.count()
	if max := 1 + 2*maxServerHosts; first > max {
		t.Errorf("%d DNS questions for one sender, want at most %d", first, max)
	}
	wantReply(t, p.Check(context.Background(), req()), "250 2.1.5 Ok")
	if again := d.count() - first; again != 0 {
		t.Errorf("the second recipient of the session asked DNS %d more times, want 0", again)
	}
}

// The addresses looked up are of the families inet_protocols enables
// (Config.Network), and an IPv6 address is also looked up by its shorter
// forms, cut at colons as Postfix's check_addr_access cuts them.
func TestServerAccessFamilies(t *testing.T) {
	zone := map[string][]string{
		"sender.example MX":      {"10 mx.sender.example"},
		"mx.sender.example A":    {"198.51.100.7"},
		"mx.sender.example AAAA": {"2001:db8::7"},
	}
	for _, tc := range []struct {
		network, table, want string
	}{
		{"ip4", "2001:db8::7=REJECT v6", "250 2.1.5 Ok"},
		{"ip", "2001:db8::7=REJECT v6", "554 5.7.1 <sender@sender.example>: Sender address rejected: v6"},
		{"ip6", "2001:db8=REJECT v6 net", "554 5.7.1 <sender@sender.example>: Sender address rejected: v6 net"},
		{"ip6", "198.51.100.7=REJECT v4", "250 2.1.5 Ok"},
		{"ip4", "198.51.100=REJECT v4 net", "554 5.7.1 <sender@sender.example>: Sender address rejected: v4 net"},
	} {
		c := backupMX()
		c.DNS = &countingDNS{zone: zone}
		c.Network = tc.network
		c.SMTPDSenderRestrictions = "check_sender_mx_access inline:{ { " + tc.table + " } }"
		p := mustNew(t, c)
		d := rcpt(p, "203.0.113.1", "<user1@backup.example>")
		if d.Reply() != tc.want {
			t.Errorf("Network %s, table %s: %q, want %q", tc.network, tc.table, d.Reply(), tc.want)
		}
	}
}

func TestServerCheckOf(t *testing.T) {
	for _, name := range []string{"check_client_mx_access", "check_reverse_client_hostname_ns_access",
		"check_helo_a_access", "check_sender_ns_access", "check_recipient_mx_access"} {
		if _, ok := serverCheckOf(name); !ok || !takesArg(name) {
			t.Errorf("%s is not a server check", name)
		}
	}
	for _, name := range []string{"check_client_access", "check_recipient_aaaa_access", "check_mx_access",
		"check_ccert_access", "check_sasl_access", "check__mx_access", "check_reverse_client_hostname_access"} {
		if _, ok := serverCheckOf(name); ok {
			t.Errorf("%s taken for a server check", name)
		}
	}
}

// FuzzServerKeys checks the keys check_*_{mx,ns,a}_access derives from
// what a client sends (an address literal) or DNS returns (a host's
// address): a literal that parses gives its address first, every key is
// a prefix of the address's text cut at a separator, and none is empty.
func FuzzServerKeys(f *testing.F) {
	for _, s := range []string{"[192.0.2.1]", "[IPv6:2001:db8::1]", "[ipv6:::ffff:192.0.2.1]", "[2001:db8::1]",
		"[fe80::1%eth0]", "[192.0.2.1", "192.0.2.1]", "[]", "[IPv6:]", "[300.1.1.1]", "[1.2.3.4.5]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		ip, ok := literalAddr(in)
		if !ok {
			return
		}
		if !ip.IsValid() || ip.Zone() != "" || ip.Is4In6() {
			t.Fatalf("%q: bad address %v", in, ip)
		}
		keys := addrKeys(nil, ip)
		text := ip.String()
		if len(keys) == 0 || keys[0].Key != text {
			t.Fatalf("%q: keys %v do not start with %s", in, keys, text)
		}
		for _, k := range keys {
			if k.Key == "" || !strings.HasPrefix(text, k.Key) {
				t.Fatalf("%q: key %q is not a prefix of %s", in, k.Key, text)
			}
			if rest := text[len(k.Key):]; rest != "" && rest[0] != '.' && rest[0] != ':' {
				t.Fatalf("%q: key %q not cut at a separator of %s", in, k.Key, text)
			}
		}
	})
}

// All the DNS questions of one check share one DNSTimeout: a domain
// whose 20 MX hosts never answer costs one timeout, not 20 (or 40), and
// its unanswered hosts count as DNS failures (the check does not
// refuse).
func TestServerAccessDNSBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mxs []string
		for i := range 20 {
			mxs = append(mxs, fmt.Sprintf("%d mx%d.slow.example", i, i))
		}
		c := backupMX()
		c.DNSTimeout = 10 * time.Second
		c.DNS = DNSFunc(func(ctx context.Context, name string, t RRType) ([]string, error) {
			if t == TypeMX {
				return mxs, nil
			}
			<-ctx.Done() // a name server that never answers
			return nil, ctx.Err()
		})
		c.SMTPDSenderRestrictions = "check_sender_mx_access inline:{ 198.51.100.1=REJECT }"
		p := mustNew(t, c)
		start := time.Now()
		d := p.Check(context.Background(), &Request{Stage: StageRcpt, ClientAddr: netip.MustParseAddr("203.0.113.1"),
			Helo: "client.example", Sender: "<a@slow.example>", Recipient: "<user1@backup.example>", Session: NewSession()})
		if d.Reply() != "250 2.1.5 Ok" {
			t.Errorf("%s, want 250: an unanswered MX host refuses nothing", d.Reply())
		}
		if took := time.Since(start); took != c.DNSTimeout {
			t.Errorf("the check took %v, want one DNSTimeout (%v)", took, c.DNSTimeout)
		}
	})
}
