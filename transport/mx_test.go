package transport

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/mxrelay/mxrelay/transport/dnstest"
)

// mxZone is the DNS world of the MX tests. 127.0.0.1 plays "us".
const mxZone = `
$ORIGIN test.
$TTL 300
test.          IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60
; a plain domain with two MX preferences
plain          IN MX 10 mx1.plain
plain          IN MX 20 mx2.plain
mx1.plain      IN A 127.0.1.1
mx1.plain      IN AAAA 2001:db8::11
mx2.plain      IN A 127.0.1.2
; equal preferences
equal          IN MX 10 a.equal
equal          IN MX 10 b.equal
equal          IN MX 10 c.equal
a.equal        IN A 127.0.2.1
b.equal        IN A 127.0.2.2
c.equal        IN A 127.0.2.3
; we (127.0.0.1) are the backup MX
backup         IN MX 10 primary.backup
backup         IN MX 20 us
primary.backup IN A 127.0.3.1
us             IN A 127.0.0.1
; we are the best MX
best           IN MX 10 us
best           IN MX 20 other.best
other.best     IN A 127.0.4.2
; we share the best preference with another host
shared         IN MX 10 us
shared         IN MX 10 peer.shared
peer.shared    IN A 127.0.5.2
; the primary has no address, we are backup
noaddr         IN MX 10 ghost.noaddr
noaddr         IN MX 20 us
; our public (NAT) address is listed
nat            IN MX 10 primary.nat
nat            IN MX 20 public.nat
primary.nat    IN A 127.0.6.1
public.nat     IN A 192.0.2.25
; null MX with an A record
nullmx         IN MX 0 .
nullmx         IN A 127.0.7.1
; no MX, only an address (NODATA for MX)
amonly         IN A 127.0.8.1
; MX host is a CNAME
cnamed         IN MX 10 alias.cnamed
alias.cnamed   IN CNAME real.cnamed
real.cnamed    IN A 127.0.9.1
; the domain itself is a CNAME
dcname         IN CNAME plain
; MX hosts that do not exist
nohosts        IN MX 10 gone1.nohosts
nohosts        IN MX 20 gone2.nohosts
; name exists, no MX, no address
empty          IN TXT "nothing"
; many addresses of both families
many           IN MX 10 m.many
m.many         IN A 127.0.10.1
m.many         IN A 127.0.10.2
m.many         IN A 127.0.10.3
m.many         IN A 127.0.10.4
m.many         IN AAAA 2001:db8::1
m.many         IN AAAA 2001:db8::2
m.many         IN AAAA 2001:db8::3
m.many         IN AAAA 2001:db8::4
; a host for [host] nexthops that is us
self           IN A 127.0.0.1
`

func newDNSServer(t testing.TB) (*dnstest.Server, *DNS) {
	t.Helper()
	return newDNSServerZone(t, mxZone)
}

// testDNSTimeout bounds the test resolvers' queries. It is generous: a
// loaded machine (-race, other jobs) must not turn an answer into a
// timeout. Tests of the Timeout fault use their own short one.
const testDNSTimeout = 10 * time.Second

// newDNSServerZone serves zone and returns a resolver pointed at it.
func newDNSServerZone(t testing.TB, zone string) (*dnstest.Server, *DNS) {
	t.Helper()
	srv, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if err := srv.AddZone(zone); err != nil {
		t.Fatal(err)
	}
	r, err := NewDNS(DNSConfig{Servers: []string{srv.Addr()}, Timeout: testDNSTimeout, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	return srv, r
}

// noShuffle keeps DNS order, so that results are deterministic.
func noShuffle(int, func(i, j int)) {}

// reverse reverses, to show that equal preferences are permuted.
func reverse(n int, swap func(i, j int)) {
	for i := 0; i < n/2; i++ {
		swap(i, n-1-i)
	}
}

func ips(d []Dest) []string {
	var out []string
	for _, x := range d {
		out = append(out, x.Addr.String())
	}
	return out
}

func wantStatus(t *testing.T, err error, status, text string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not an *Error", err)
	}
	if e.Status != status || !strings.Contains(e.Text, text) {
		t.Fatalf("got %s %q, want %s containing %q", e.Status, e.Text, status, text)
	}
	if e.Temporary() != (status[0] == '4') {
		t.Fatalf("Temporary() = %v for %s", e.Temporary(), status)
	}
}

func resolveHop(t *testing.T, c *AddressConfig, nexthop string) (Addresses, error) {
	t.Helper()
	n, err := ParseNexthop(nexthop)
	if err != nil {
		t.Fatal(err)
	}
	return c.Resolve(context.Background(), n.Hops[0], false)
}

var us = []netip.Addr{netip.MustParseAddr("127.0.0.1")}

// MX hosts sorted by preference, each resolved to its addresses (RFC 5321
// section 5.1, smtp_addr.c).
func TestMXSortAndAddresses(t *testing.T) {
	_, r := newDNSServer(t)
	c := &AddressConfig{Resolver: r, Shuffle: noShuffle}
	a, err := resolveHop(t, c, "plain.test")
	if err != nil {
		t.Fatal(err)
	}
	if got := ips(a.Dests); !slices.Equal(got, []string{"127.0.1.1", "2001:db8::11", "127.0.1.2"}) {
		t.Fatalf("addresses %v", got)
	}
	if a.Dests[2].Host != "mx2.plain.test" || a.Dests[2].Pref != 20 || a.Dests[2].Port != 25 {
		t.Fatalf("dest %+v", a.Dests[2])
	}
	if a.Dests[1].String() != "mx1.plain.test[2001:db8::11]:25" || a.Dests[1].Address() != "[2001:db8::11]:25" {
		t.Fatalf("formatting %s %s", a.Dests[1], a.Dests[1].Address())
	}
	c.Network = "ip4"
	a, _ = resolveHop(t, c, "plain.test:2525")
	if got := ips(a.Dests); !slices.Equal(got, []string{"127.0.1.1", "127.0.1.2"}) || a.Dests[0].Port != 2525 {
		t.Fatalf("ip4 only: %v", a.Dests)
	}
}

// smtp_randomize_addresses: equal preferences are shuffled, different ones
// never reordered.
func TestMXEqualPreferenceShuffled(t *testing.T) {
	_, r := newDNSServer(t)
	c := &AddressConfig{Resolver: r, Shuffle: reverse}
	a, err := resolveHop(t, c, "equal.test")
	if err != nil {
		t.Fatal(err)
	}
	if got := ips(a.Dests); !slices.Equal(got, []string{"127.0.2.3", "127.0.2.2", "127.0.2.1"}) {
		t.Fatalf("shuffled %v", got)
	}
	// The shuffle never reorders different preferences.
	a, _ = resolveHop(t, c, "plain.test")
	if a.Dests[len(a.Dests)-1].Pref != 20 {
		t.Fatalf("preference order broken by shuffle: %v", a.Dests)
	}
	c.NoRandomize = true
	a, _ = resolveHop(t, c, "equal.test")
	if got := ips(a.Dests); !slices.Equal(got, []string{"127.0.2.1", "127.0.2.2", "127.0.2.3"}) {
		t.Fatalf("NoRandomize %v", got)
	}
	// The default shuffle uses math/rand: over many runs, more than one
	// order appears.
	c = &AddressConfig{Resolver: r}
	seen := map[string]bool{}
	for range 40 {
		a, _ = resolveHop(t, c, "equal.test")
		seen[strings.Join(ips(a.Dests), ",")] = true
	}
	if len(seen) < 2 {
		t.Fatalf("equal preferences never shuffled: %v", seen)
	}
}

// smtp_mx_address_limit with smtp_balance_inet_protocols.
func TestMXAddressLimitBalanced(t *testing.T) {
	_, r := newDNSServer(t)
	c := &AddressConfig{Resolver: r, Shuffle: noShuffle}
	a, err := resolveHop(t, c, "many.test")
	if err != nil {
		t.Fatal(err)
	}
	// 4 A + 4 AAAA over a limit of 5: 3 IPv4 (the list starts with IPv4) and 2 IPv6.
	if got := ips(a.Dests); !slices.Equal(got, []string{"127.0.10.1", "127.0.10.2", "127.0.10.3", "2001:db8::1", "2001:db8::2"}) {
		t.Fatalf("balanced %v", got)
	}
	c.AddressLimit = -1
	a, _ = resolveHop(t, c, "many.test")
	if len(a.Dests) != 8 {
		t.Fatalf("no limit: %d", len(a.Dests))
	}
}

// Implicit MX (RFC 5321 section 5.1): no MX records, the domain is its own
// MX.
func TestMXImplicitOnNoData(t *testing.T) {
	srv, r := newDNSServer(t)
	c := &AddressConfig{Resolver: r}
	a, err := resolveHop(t, c, "amonly.test")
	if err != nil {
		t.Fatal(err)
	}
	if got := ips(a.Dests); !slices.Equal(got, []string{"127.0.8.1"}) || a.Dests[0].Pref != 0 || a.Dests[0].Host != "amonly.test" {
		t.Fatalf("implicit MX %v", a.Dests)
	}
	// NXDOMAIN: the A lookup also fails, a hard 5.4.4.
	_, err = resolveHop(t, c, "nosuch.test")
	wantStatus(t, err, "5.4.4", "Host or domain name not found. Name service error for name=nosuch.test type=AAAA: Host not found")
	// The name exists but has neither MX nor address.
	_, err = resolveHop(t, c, "empty.test")
	wantStatus(t, err, "5.4.4", "Host found but no data record of requested type")
	// A temporary failure of the implicit A lookup defers.
	srv.SetFault("amonly.test", dns.TypeA, dnstest.ServFail)
	srv.SetFault("amonly.test", dns.TypeAAAA, dnstest.ServFail)
	_, err = resolveHop(t, c, "amonly.test")
	wantStatus(t, err, "4.4.3", "Host not found, try again")
}

// A temporary MX lookup failure defers without falling back to the
// domain's own addresses (ignore_mx_lookup_error = no); a non-recoverable
// one bounces.
func TestMXTemporaryFailureNoFallback(t *testing.T) {
	srv, _ := newDNSServer(t)
	// Short: the Timeout fault never answers.
	r, err := NewDNS(DNSConfig{Servers: []string{srv.Addr()}, Timeout: 200 * time.Millisecond, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	c := &AddressConfig{Resolver: r}
	for _, f := range []dnstest.Fault{dnstest.ServFail, dnstest.Timeout} {
		srv.SetFault("amonly.test", dns.TypeMX, f)
		before := srv.Count("amonly.test", dns.TypeA, "")
		_, err := resolveHop(t, c, "amonly.test")
		wantStatus(t, err, "4.4.3", "Name service error for name=amonly.test type=MX: Host not found, try again")
		if n := srv.Count("amonly.test", dns.TypeA, ""); n != before {
			t.Fatalf("%v: A record looked up after a temporary MX failure", f)
		}
	}
	srv.SetFault("amonly.test", dns.TypeMX, dnstest.Refused)
	_, err = resolveHop(t, c, "amonly.test")
	wantStatus(t, err, "5.4.3", "Non-recoverable error")
}

// Null MX, RFC 7505.
func TestMXNull(t *testing.T) {
	srv, r := newDNSServer(t)
	c := &AddressConfig{Resolver: r}
	_, err := resolveHop(t, c, "nullmx.test")
	wantStatus(t, err, "5.1.0", "Domain nullmx.test does not accept mail (nullMX)")
	if srv.Count("nullmx.test", dns.TypeA, "") != 0 {
		t.Fatal("A record looked up for a null MX domain")
	}
}

// No MX host has an address (smtp_defer_if_no_mx_address_found).
func TestMXHostsWithoutAddresses(t *testing.T) {
	srv, r := newDNSServer(t)
	c := &AddressConfig{Resolver: r}
	_, err := resolveHop(t, c, "nohosts.test")
	wantStatus(t, err, "5.4.4", "name=gone2.nohosts.test")
	c.DeferIfNoMXAddress = true
	_, err = resolveHop(t, c, "nohosts.test")
	wantStatus(t, err, "4.4.4", "name=gone2.nohosts.test")
	// A soft failure for one host dominates a hard one for the next.
	c.DeferIfNoMXAddress = false
	srv.SetFault("gone1.nohosts.test", dnstest.AnyType, dnstest.ServFail)
	_, err = resolveHop(t, c, "nohosts.test")
	wantStatus(t, err, "4.4.4", "name=gone2.nohosts.test")
}

// The self check of smtp_addr.c, on port 25 only: when one of our own
// addresses (inet_interfaces, proxy_interfaces) is an MX, it and every
// worse or equal preference are dropped; a [host] that is us is a loop.
func TestMXSelf(t *testing.T) {
	_, r := newDNSServer(t)
	tests := []struct {
		name, hop string
		mine      []netip.Addr
		want      []string
		status    string
		text      string
		iAmMX     bool
	}{
		{"backup keeps only the primary", "backup.test", us, []string{"127.0.3.1"}, "", "", true},
		{"not ours: everything", "backup.test", nil, []string{"127.0.3.1", "127.0.0.1"}, "", "", false},
		{"best MX loops", "best.test", us, nil, "5.4.6", "mail for best.test loops back to myself", true},
		{"equal preference dropped too", "shared.test", us, nil, "5.4.6", "mail for shared.test loops back to myself", true},
		{"primary without address", "noaddr.test", us, nil, "4.4.4", "unable to find primary relay for noaddr.test", true},
		{"proxy address without it: both tried", "nat.test", us, []string{"127.0.6.1", "192.0.2.25"}, "", "", false},
		{"proxy address given", "nat.test", append(slices.Clone(us), netip.MustParseAddr("192.0.2.25")), []string{"127.0.6.1"}, "", "", true},
		{"port 587: no loop detection", "best.test:587", us, []string{"127.0.0.1", "127.0.4.2"}, "", "", false},
		{"[host] that is us", "[self.test]", us, nil, "5.4.6", "mail for self.test loops back to myself", false},
		{"[address] that is us", "[127.0.0.1]", us, nil, "5.4.6", "mail for 127.0.0.1 loops back to myself", false},
		{"[host] that is us on another port", "[self.test]:2525", us, []string{"127.0.0.1"}, "", "", false},
		{"IPv4-mapped own address", "[self.test]", []netip.Addr{netip.MustParseAddr("::ffff:127.0.0.1")}, nil, "5.4.6", "loops back", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &AddressConfig{Resolver: r, MyAddresses: tt.mine, Shuffle: noShuffle}
			a, err := resolveHop(t, c, tt.hop)
			if tt.status != "" {
				wantStatus(t, err, tt.status, tt.text)
			} else if err != nil {
				t.Fatal(err)
			} else if got := ips(a.Dests); !slices.Equal(got, tt.want) {
				t.Fatalf("addresses %v, want %v", got, tt.want)
			}
			if a.IAmMX != tt.iAmMX {
				t.Fatalf("IAmMX = %v", a.IAmMX)
			}
		})
	}
}

func TestMXCNAME(t *testing.T) {
	_, r := newDNSServer(t)
	c := &AddressConfig{Resolver: r, Shuffle: noShuffle}
	a, err := resolveHop(t, c, "cnamed.test")
	if err != nil {
		t.Fatal(err)
	}
	if got := ips(a.Dests); !slices.Equal(got, []string{"127.0.9.1"}) || a.Dests[0].Host != "alias.cnamed.test" {
		t.Fatalf("CNAME MX host: %v", a.Dests)
	}
	a, err = resolveHop(t, c, "dcname.test")
	if err != nil {
		t.Fatal(err)
	}
	if a.Dests[0].Host != "mx1.plain.test" {
		t.Fatalf("CNAME domain: %v", a.Dests)
	}
}

func TestMXTruncatedAnswerRetriedOverTCP(t *testing.T) {
	srv, r := newDNSServer(t)
	srv.SetFault("plain.test", dns.TypeMX, dnstest.Truncate)
	c := &AddressConfig{Resolver: r, Shuffle: noShuffle}
	a, err := resolveHop(t, c, "plain.test")
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Dests) != 3 {
		t.Fatalf("after TCP retry: %v", a.Dests)
	}
	if srv.Count("plain.test", dns.TypeMX, "tcp") != 1 || srv.Count("plain.test", dns.TypeMX, "udp") != 1 {
		t.Fatalf("queries %v", srv.Queries())
	}
}

func TestLMTPAndUnixHops(t *testing.T) {
	srv, r := newDNSServer(t)
	c := &AddressConfig{Resolver: r, MyAddresses: us}
	n, _ := ParseNexthop("inet:self.test")
	a, err := c.Resolve(context.Background(), n.Hops[0], true)
	if err != nil || len(a.Dests) != 1 || a.Dests[0].Port != 24 {
		t.Fatalf("lmtp inet: %v %v", a, err)
	}
	// LMTP never looks up MX records.
	n, _ = ParseNexthop("plain.test")
	if _, err := c.Resolve(context.Background(), n.Hops[0], true); err == nil || srv.Count("plain.test", dns.TypeMX, "") != 0 {
		t.Fatalf("lmtp looked up MX: %v", err)
	}
	n, _ = ParseNexthop("unix:/run/lmtp")
	a, _ = c.Resolve(context.Background(), n.Hops[0], true)
	if a.Dests[0].Network() != "unix" || a.Dests[0].Address() != "/run/lmtp" {
		t.Fatalf("unix: %+v", a.Dests[0])
	}
}

// smtp_address_preference within a preference.
func TestMXAddressPreference(t *testing.T) {
	_, r := newDNSServer(t)
	c := &AddressConfig{Resolver: r, Shuffle: reverse}
	a, _ := resolveHop(t, c, "plain.test")
	if got := ips(a.Dests); !slices.Equal(got, []string{"2001:db8::11", "127.0.1.1", "127.0.1.2"}) {
		t.Fatalf("any: %v", got)
	}
	c.Prefer = "ipv4"
	a, _ = resolveHop(t, c, "plain.test")
	if got := ips(a.Dests); !slices.Equal(got, []string{"127.0.1.1", "2001:db8::11", "127.0.1.2"}) {
		t.Fatalf("ipv4 first within a preference: %v", got)
	}
	c.Prefer, c.Shuffle = "ipv6", noShuffle
	a, _ = resolveHop(t, c, "[m.many.test]")
	if got := ips(a.Dests); got[0] != "2001:db8::1" || len(got) != 5 {
		t.Fatalf("ipv6 first for a [host]: %v", got)
	}
}

func TestMXIgnoreLookupError(t *testing.T) {
	srv, r := newDNSServer(t)
	srv.SetFault("amonly.test", dns.TypeMX, dnstest.ServFail)
	c := &AddressConfig{Resolver: r, IgnoreMXLookupError: true}
	a, err := resolveHop(t, c, "amonly.test")
	if err != nil || !slices.Equal(ips(a.Dests), []string{"127.0.8.1"}) {
		t.Fatalf("ignore_mx_lookup_error: %v %v", a.Dests, err)
	}
}
