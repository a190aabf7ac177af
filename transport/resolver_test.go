package transport

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/mxrelay/mxrelay/transport/dnstest"
)

// fakeClock is an injectable clock for cache expiry.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newCachingDNS(t *testing.T, srv *dnstest.Server, clock *fakeClock) *DNS {
	t.Helper()
	r, err := NewDNS(DNSConfig{Servers: []string{srv.Addr()}, Timeout: testDNSTimeout, Attempts: 1,
		Cache: true, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestDNSCacheHonoursTTL(t *testing.T) {
	srv, _ := newDNSServer(t)
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	r := newCachingDNS(t, srv, clock)
	ctx := context.Background()
	lookups := func() int { return srv.Count("plain.test", dns.TypeMX, "") }
	for range 3 {
		if mx, err := r.LookupMX(ctx, "plain.test"); err != nil || len(mx) != 2 {
			t.Fatalf("%v %v", mx, err)
		}
	}
	if lookups() != 1 {
		t.Fatalf("%d queries with a warm cache", lookups())
	}
	clock.advance(299 * time.Second)
	r.LookupMX(ctx, "plain.test")
	if lookups() != 1 {
		t.Fatal("entry expired before its TTL (300s)")
	}
	clock.advance(2 * time.Second)
	r.LookupMX(ctx, "plain.test")
	if lookups() != 2 {
		t.Fatal("entry served after its TTL")
	}

	// Negative answers are cached for min(SOA TTL, SOA MINIMUM) = 60s.
	for range 2 {
		if _, err := r.LookupMX(ctx, "nosuch.test"); dnsErrorOf(err, "", "").Kind != DNSNotFound {
			t.Fatalf("NXDOMAIN: %v", err)
		}
	}
	if n := srv.Count("nosuch.test", dns.TypeMX, ""); n != 1 {
		t.Fatalf("%d queries for a cached NXDOMAIN", n)
	}
	clock.advance(61 * time.Second)
	r.LookupMX(ctx, "nosuch.test")
	if n := srv.Count("nosuch.test", dns.TypeMX, ""); n != 2 {
		t.Fatal("negative entry served after the SOA minimum")
	}

	// Temporary failures are never cached.
	srv.SetFault("equal.test", dns.TypeMX, dnstest.ServFail)
	for range 2 {
		if _, err := r.LookupMX(ctx, "equal.test"); !IsDNSTemporary(err) {
			t.Fatalf("SERVFAIL: %v", err)
		}
	}
	if n := srv.Count("equal.test", dns.TypeMX, ""); n != 2 {
		t.Fatalf("%d queries: a SERVFAIL was cached", n)
	}
	srv.SetFault("equal.test", dns.TypeMX, dnstest.NoFault)
	if _, err := r.LookupMX(ctx, "equal.test"); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestDNSCacheBounded(t *testing.T) {
	srv, _ := newDNSServer(t)
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	r, err := NewDNS(DNSConfig{Servers: []string{srv.Addr()}, Cache: true, MaxCacheEntries: 3, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		r.LookupNetIP(context.Background(), "ip4", fmt.Sprintf("h%d.nosuch.test", i))
	}
	r.mu.Lock()
	n := len(r.entries)
	r.mu.Unlock()
	if n > 3 {
		t.Fatalf("%d cache entries, limit 3", n)
	}
}

func TestDNSServerFailover(t *testing.T) {
	bad, _ := newDNSServer(t)
	bad.SetFault("plain.test", dnstest.AnyType, dnstest.ServFail)
	good, _ := newDNSServer(t)
	r, err := NewDNS(DNSConfig{Servers: []string{bad.Addr(), good.Addr()}, Timeout: testDNSTimeout})
	if err != nil {
		t.Fatal(err)
	}
	mx, err := r.LookupMX(context.Background(), "plain.test")
	if err != nil || len(mx) != 2 {
		t.Fatalf("%v %v", mx, err)
	}
	if bad.Count("plain.test", dns.TypeMX, "") != 1 || good.Count("plain.test", dns.TypeMX, "") != 1 {
		t.Fatal("servers not tried in order")
	}
	// REFUSED everywhere is unrecoverable; SERVFAIL everywhere temporary.
	good.SetFault("plain.test", dnstest.AnyType, dnstest.Refused)
	bad.SetFault("plain.test", dnstest.AnyType, dnstest.Refused)
	if _, err := r.LookupMX(context.Background(), "plain.test"); dnsErrorOf(err, "", "").Kind != DNSUnrecoverable {
		t.Fatalf("REFUSED: %v", err)
	}
}

func TestDNSRecordCap(t *testing.T) {
	srv, _ := newDNSServer(t)
	for i := range 150 {
		if err := srv.Add(fmt.Sprintf("big.test. 300 IN A 127.1.%d.%d", i/200, i%200+1)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := NewDNS(DNSConfig{Servers: []string{srv.Addr()}, MaxRecords: 100})
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := r.LookupNetIP(context.Background(), "ip4", "big.test")
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != 100 {
		t.Fatalf("%d addresses, cap 100", len(addrs))
	}
	// 150 A records do not fit in 1232 bytes: the answer came over TCP.
	if srv.Count("big.test", dns.TypeA, "tcp") != 1 {
		t.Fatalf("queries %v", srv.Queries())
	}
}

func TestDNSCNAMELoopAndBadNames(t *testing.T) {
	srv, r := newDNSServer(t)
	if err := srv.Add("loop1.test. 300 IN CNAME loop2.test.", "loop2.test. 300 IN CNAME loop1.test."); err != nil {
		t.Fatal(err)
	}
	_, err := r.LookupNetIP(context.Background(), "ip4", "loop1.test")
	if de := dnsErrorOf(err, "", ""); de.Kind != DNSMalformed || de.Name != "loop1.test" {
		t.Fatalf("CNAME loop: %v", err)
	}
	for _, name := range []string{"", "a..b", string(make([]byte, 300))} {
		if _, err := r.LookupMX(context.Background(), name); dnsErrorOf(err, "", "").Kind != DNSMalformed {
			t.Fatalf("%q: %v", name, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.LookupMX(ctx, "plain.test"); !IsDNSTemporary(err) || !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
	if _, err := r.LookupNetIP(context.Background(), "tcp", "plain.test"); err == nil {
		t.Fatal("bad network accepted")
	}
}

func TestDNSResolvConf(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(conf, []byte("nameserver 127.0.0.53\nnameserver ::1\noptions timeout:3 attempts:4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := NewDNS(DNSConfig{ResolvConf: conf})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.servers, []string{"127.0.0.53:53", "[::1]:53"}) || r.timeout != 3*time.Second || r.attempts != 4 {
		t.Fatalf("servers %v timeout %v attempts %d", r.servers, r.timeout, r.attempts)
	}
	// Explicit values win over the file.
	r, _ = NewDNS(DNSConfig{ResolvConf: conf, Timeout: time.Second, Attempts: 1})
	if r.timeout != time.Second || r.attempts != 1 {
		t.Fatalf("explicit config ignored: %v %d", r.timeout, r.attempts)
	}
	if err := os.WriteFile(conf, []byte("search test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewDNS(DNSConfig{ResolvConf: conf}); err == nil {
		t.Fatal("resolv.conf without nameserver accepted")
	}
	if _, err := NewDNS(DNSConfig{ResolvConf: filepath.Join(dir, "missing")}); err == nil {
		t.Fatal("missing resolv.conf accepted")
	}
}

// FuzzDNSAnswer feeds arbitrary DNS replies to the answer extraction: it
// never panics, returns only well-typed records of the type asked, owned by
// the name or its CNAME chain, at most MaxRecords, and exactly one of
// records, a CNAME target or an error.
func FuzzDNSAnswer(f *testing.F) {
	seed := func(name string, qtype uint16, rrs ...string) {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		m.Response = true
		for _, s := range rrs {
			rr, err := dns.NewRR(s)
			if err != nil {
				f.Fatal(err)
			}
			m.Answer = append(m.Answer, rr)
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, qtype)
	}
	seed("x.test.", dns.TypeMX, "x.test. 60 IN MX 10 mx.x.test.", "x.test. 60 IN MX 0 .")
	seed("x.test.", dns.TypeA, "x.test. 60 IN CNAME y.test.", "y.test. 60 IN A 192.0.2.1")
	seed("x.test.", dns.TypeAAAA, "x.test. 60 IN CNAME y.test.")
	seed("x.test.", dns.TypeA, "other.test. 60 IN A 192.0.2.9")
	seed("x.test.", dns.TypeAAAA, "x.test. 5 IN AAAA 2001:db8::1", "x.test. 1 IN AAAA 2001:db8::2")
	d := &DNS{maxRecords: 3}
	f.Fuzz(func(t *testing.T, wire []byte, qtype uint16) {
		m := new(dns.Msg)
		if m.Unpack(wire) != nil || len(m.Question) != 1 {
			return
		}
		name := dns.Fqdn(m.Question[0].Name)
		rrs, target, ttl, derr := d.answer(m, name, qtype)
		outcomes := 0
		if len(rrs) > 0 {
			outcomes++
		}
		if target != "" {
			outcomes++
		}
		if derr != nil {
			outcomes++
		}
		if outcomes != 1 {
			t.Fatalf("records %d, target %q, error %v", len(rrs), target, derr)
		}
		if len(rrs) > d.maxRecords {
			t.Fatalf("%d records over the cap", len(rrs))
		}
		owners := map[string]bool{dns.CanonicalName(name): true}
		for _, rr := range m.Answer {
			if c, ok := rr.(*dns.CNAME); ok {
				owners[dns.CanonicalName(c.Target)] = true
			}
		}
		for _, rr := range rrs {
			if !wellTyped(rr, qtype) || !owners[dns.CanonicalName(rr.Header().Name)] {
				t.Fatalf("record %v returned for %s type %d", rr, name, qtype)
			}
			if rr.Header().Ttl < ttl {
				t.Fatalf("ttl %d above a record's %d", ttl, rr.Header().Ttl)
			}
		}
	})
}
