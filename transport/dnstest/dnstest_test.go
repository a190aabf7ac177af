package dnstest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func start(t *testing.T) *Server {
	t.Helper()
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	err = s.AddZone(`
$ORIGIN example.org.
$TTL 300
@       IN SOA ns hostmaster 1 3600 600 86400 60
@       IN MX 10 mx1
@       IN MX 20 alias
mx1     IN A 127.0.0.2
mx1     IN AAAA ::1
alias   IN CNAME mx1
dangle  IN CNAME nowhere.invalid.
`)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ask(t *testing.T, s *Server, proto, name string, qtype uint16) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: proto, Timeout: 2 * time.Second}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	r, _, err := c.ExchangeContext(context.Background(), m, s.Addr())
	if err != nil {
		t.Fatalf("%s %s %s: %v", proto, name, dns.TypeToString[qtype], err)
	}
	return r
}

func TestAnswers(t *testing.T) {
	s := start(t)
	for _, proto := range []string{"udp", "tcp"} {
		r := ask(t, s, proto, "EXAMPLE.org", dns.TypeMX)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 2 {
			t.Fatalf("%s MX: %v", proto, r)
		}
	}
	// NODATA: the name exists, no record of the type; SOA in authority.
	r := ask(t, s, "udp", "example.org", dns.TypeA)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) != 1 {
		t.Fatalf("NODATA: %v", r)
	}
	r = ask(t, s, "udp", "nosuch.example.org", dns.TypeA)
	if r.Rcode != dns.RcodeNameError {
		t.Fatalf("NXDOMAIN: %v", r)
	}
	// CNAME chain followed to the target's records.
	r = ask(t, s, "udp", "alias.example.org", dns.TypeA)
	if len(r.Answer) != 2 || r.Answer[0].Header().Rrtype != dns.TypeCNAME || r.Answer[1].(*dns.A).A.String() != "127.0.0.2" {
		t.Fatalf("CNAME: %v", r)
	}
	r = ask(t, s, "udp", "dangle.example.org", dns.TypeA)
	if r.Rcode != dns.RcodeNameError || len(r.Answer) != 1 {
		t.Fatalf("dangling CNAME: %v", r)
	}
}

func TestFaults(t *testing.T) {
	s := start(t)
	s.SetFault("example.org", dns.TypeMX, ServFail)
	if r := ask(t, s, "udp", "example.org", dns.TypeMX); r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("SERVFAIL: %v", r)
	}
	if r := ask(t, s, "udp", "mx1.example.org", dns.TypeA); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("fault leaked to another name: %v", r)
	}
	s.SetFault("example.org", dns.TypeMX, NoFault)
	if r := ask(t, s, "udp", "example.org", dns.TypeMX); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("fault not removed: %v", r)
	}

	s.SetFault("mx1.example.org", AnyType, Truncate)
	r := ask(t, s, "udp", "mx1.example.org", dns.TypeA)
	if !r.Truncated || len(r.Answer) != 0 {
		t.Fatalf("UDP not truncated: %v", r)
	}
	r = ask(t, s, "tcp", "mx1.example.org", dns.TypeA)
	if r.Truncated || len(r.Answer) != 1 {
		t.Fatalf("TCP answer: %v", r)
	}
	if n := s.Count("mx1.example.org", dns.TypeA, "tcp"); n != 1 {
		t.Fatalf("Count tcp = %d", n)
	}

	s.SetFault("example.org", dns.TypeMX, Timeout)
	c := &dns.Client{Net: "udp", Timeout: 100 * time.Millisecond}
	m := new(dns.Msg)
	m.SetQuestion("example.org.", dns.TypeMX)
	if _, _, err := c.Exchange(m, s.Addr()); err == nil {
		t.Fatal("Timeout fault answered")
	}
	s.SetFault("example.org", dns.TypeMX, Refused)
	if r := ask(t, s, "udp", "example.org", dns.TypeMX); r.Rcode != dns.RcodeRefused {
		t.Fatalf("REFUSED: %v", r)
	}
}

func TestAddErrors(t *testing.T) {
	s := start(t)
	if err := s.Add("example.net. 300 IN MX notanumber mx."); err == nil {
		t.Fatal("bad record accepted")
	}
	if err := s.AddZone("@ IN BOGUS x"); err == nil {
		t.Fatal("bad zone accepted")
	}
	if err := s.Add("example.net. 300 IN A 127.0.0.9"); err != nil {
		t.Fatal(err)
	}
	if r := ask(t, s, "udp", "example.net", dns.TypeA); len(r.Answer) != 1 {
		t.Fatalf("Add: %v", r)
	}
	s.Remove("example.net")
	if r := ask(t, s, "udp", "example.net", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Fatalf("Remove: %v", r)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
}

// An answer larger than the client's UDP buffer comes back truncated, as
// from a real server, and whole over TCP.
func TestLargeAnswerTruncatedOverUDP(t *testing.T) {
	s := start(t)
	for i := range 60 {
		if err := s.Add(fmt.Sprintf("big.example.org. 300 IN A 127.0.1.%d", i+1)); err != nil {
			t.Fatal(err)
		}
	}
	r := ask(t, s, "udp", "big.example.org", dns.TypeA) // no EDNS0: 512 bytes
	if !r.Truncated || len(r.Answer) >= 60 {
		t.Fatalf("udp: truncated %v, %d records", r.Truncated, len(r.Answer))
	}
	r = ask(t, s, "tcp", "big.example.org", dns.TypeA)
	if r.Truncated || len(r.Answer) != 60 {
		t.Fatalf("tcp: truncated %v, %d records", r.Truncated, len(r.Answer))
	}
}
