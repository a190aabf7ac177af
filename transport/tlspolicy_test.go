package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/mxrelay/mxrelay/internal/peertest"
	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/transport/client"
)

func hopOf(t *testing.T, s string) Hop {
	t.Helper()
	n, err := ParseNexthop(s)
	if err != nil {
		t.Fatal(err)
	}
	return n.Hops[0]
}

func TestTLSPolicyMap(t *testing.T) {
	roots := &tls.Config{ServerName: "base"}
	m := &TLSPolicyMap{
		Tables: []lookup.Table{lookup.NewMap(map[string]string{
			"example.com":           "secure",
			".example.com":          "encrypt ciphers=high",
			"[mail.example.net]":    "verify match=mail.example.net:nexthop",
			"[mx.example.net]:587":  "verify",
			"dane.test":             "dane",
			"pinned.test":           "fingerprint match=AA:BB",
			"open.test":             "none",
			"nexthop.test":          "verify match=nexthop",
			"[mail.example.net]:25": "none",
		})},
		Default: TLSPolicy{Level: client.TLSOpportunistic},
		Config:  roots,
	}
	tests := []struct {
		hop   string
		level client.TLSLevel
		match []string
		err   string
	}{
		{"example.com", client.TLSVerify, []string{"nexthop", "dot-nexthop"}, ""},
		{"a.b.example.com", client.TLSMandatory, nil, ""},
		{"[mail.example.net]", client.TLSVerify, []string{"mail.example.net", "nexthop"}, ""},
		{"[mail.example.net]:25", client.TLSNone, nil, ""},
		{"[mx.example.net]:587", client.TLSVerify, []string{"hostname"}, ""},
		{"[mx.example.net]", client.TLSOpportunistic, nil, ""}, // not listed: Default
		{"example.com:2525", client.TLSOpportunistic, nil, ""}, // port: no parent search either
		{"dane.test", client.TLSOpportunistic, nil, ""},
		{"open.test", client.TLSNone, nil, ""},
		{"nexthop.test", client.TLSVerify, []string{"nexthop"}, ""},
		{"pinned.test", 0, nil, "4.3.5"},
	}
	for _, tt := range tests {
		p, err := m.TLSPolicy(context.Background(), Route{}, hopOf(t, tt.hop))
		if tt.err != "" {
			if StatusOf(err) != tt.err {
				t.Errorf("%s: error %v, want %s", tt.hop, err, tt.err)
			}
			continue
		}
		if err != nil || p.Level != tt.level || !slices.Equal(p.Match, tt.match) {
			t.Errorf("%s: %v %q %v, want %v %q", tt.hop, p.Level, p.Match, err, tt.level, tt.match)
		}
		if err == nil && tt.level != client.TLSOpportunistic && p.Config != roots {
			t.Errorf("%s: base Config not used", tt.hop)
		}
	}
	// Match entries become the names a certificate is checked against.
	pol := TLSPolicy{Level: client.TLSVerify, Match: []string{"hostname", "nexthop", "dot-nexthop", "x.test", ".y.test"}}
	got := pol.targetMatch(hopOf(t, "example.com"), Dest{Host: "mx1.example.com"})
	if want := []string{"mx1.example.com", "example.com", ".example.com", "x.test", ".y.test"}; !slices.Equal(got, want) {
		t.Errorf("targetMatch %q, want %q", got, want)
	}
	// A table failure defers, it never falls back to a weaker default.
	broken := &TLSPolicyMap{Tables: []lookup.Table{lookup.TableFunc(func(context.Context, string) (string, bool, error) {
		return "", false, &lookup.Error{Table: "hash:/etc/postfix/tls_policy", Kind: lookup.Temporary, Err: errors.New("I/O error")}
	})}}
	if _, err := broken.TLSPolicy(context.Background(), Route{}, hopOf(t, "example.com")); StatusOf(err) != "4.3.0" || !IsTemporary(err) {
		t.Fatalf("table failure: %v", err)
	}
	// A table of the caller's is asked folded keys, as Postfix asks its
	// fixed-key tables.
	var asked []string
	lower := &TLSPolicyMap{Tables: []lookup.Table{lookup.TableFunc(func(_ context.Context, key string) (string, bool, error) {
		asked = append(asked, key)
		return "encrypt", key == "example.com", nil
	})}}
	if p, err := lower.TLSPolicy(context.Background(), Route{}, hopOf(t, "Example.COM")); err != nil || p.Level != client.TLSMandatory {
		t.Errorf("mixed-case hop: %v %v (keys asked %q)", p, err, asked)
	}
	// The zero map: may everywhere.
	if p, err := (&TLSPolicyMap{}).TLSPolicy(context.Background(), Route{}, hopOf(t, "example.com")); err != nil || p.Level != client.TLSOpportunistic {
		t.Fatalf("zero map: %v %v", p, err)
	}
}

// A per-destination policy drives STARTTLS end to end: secure delivers over
// verified TLS; a certificate for another name fails verification, which is
// never retried in clear text.
func TestDeliverVerifiedTLS(t *testing.T) {
	cert, pool := peertest.Certificate(t, "h2.test", "a.sec.test")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{}
	srv := smtp.NewServer(p)
	srv.Domain = "h2.test"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	p.addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	policies := &TLSPolicyMap{
		Tables: []lookup.Table{lookup.NewMap(map[string]string{
			"[h2.test]": "secure",
			"[h1.test]": "secure match=h1.test",
			"sec.test":  "secure",
			"bad.test":  "verify",
		})},
		Config: &tls.Config{RootCAs: pool},
	}
	e := newEnv(t, func(c *AgentConfig) { c.TLS = policies }, nil)
	e.w.route("127.0.26.2:25", p.addr)
	e.w.route("127.0.26.1:25", p.addr) // h1 answers with h2's certificate
	e.w.route("127.0.28.1:25", p.addr) // a.sec.test, MX of sec.test
	e.w.route("127.0.29.1:25", p.addr) // mx.bad.test, MX of bad.test
	d := e.agent.Deliver(context.Background(), smtpRoute("[h2.test]"), message("u@x.test"))
	if rr := d.Recipients[0]; rr.Status != client.Delivered || !rr.TLS {
		t.Fatalf("secure delivery: %+v", rr)
	}
	d = e.agent.Deliver(context.Background(), smtpRoute("[h1.test]"), message("u@x.test"))
	wantRcpt(t, d.Recipients[0], client.Deferred, 451, "4.7.5", "h1.test", "Server certificate not verified")
	if len(d.Tried) != 1 || len(p.messages()) != 1 {
		t.Fatalf("tried %v; %d messages: a failed verification must not fall back to clear text", d.Tried, len(p.messages()))
	}
	// secure for an MX domain: the MX host's certificate a.sec.test is
	// under the nexthop sec.test (dot-nexthop).
	d = e.agent.Deliver(context.Background(), smtpRoute("sec.test"), message("u@sec.test"))
	if rr := d.Recipients[0]; rr.Status != client.Delivered || !rr.TLS {
		t.Fatalf("secure MX delivery: %+v", rr)
	}
	// verify checks the MX host name: mx.bad.test is not in the certificate.
	d = e.agent.Deliver(context.Background(), smtpRoute("bad.test"), message("u@bad.test"))
	wantRcpt(t, d.Recipients[0], client.Deferred, 451, "4.7.5", "mx.bad.test", "Server certificate not verified")
}

// FuzzTLSPolicy: any table value gives a known level or a 4.3.5 deferral,
// and a verify policy always names what it checks (or defers to the MX
// host name).
func FuzzTLSPolicy(f *testing.F) {
	for _, s := range []string{"secure", "verify match=a.test:nexthop", "encrypt ciphers=high", "dane", "DANE-only", "", "none x=y", "secure match="} {
		f.Add(s, "example.com")
	}
	f.Fuzz(func(t *testing.T, value, host string) {
		hop := Hop{Host: host}
		p, err := parseTLSPolicy(value, hop, nil)
		if err != nil {
			if StatusOf(err) != "4.3.5" || !IsTemporary(err) {
				t.Fatalf("%q: error %v is not a 4.3.5 deferral", value, err)
			}
			return
		}
		if p.Level < client.TLSOpportunistic || p.Level > client.TLSVerify {
			t.Fatalf("%q: level %v", value, p.Level)
		}
		if p.Level != client.TLSVerify && len(p.Match) > 0 {
			t.Fatalf("%q: match %q without verification", value, p.Match)
		}
		for _, m := range p.Match {
			if m == "" || strings.ContainsAny(m, " \t:") {
				t.Fatalf("%q: bad match entry %q", value, m)
			}
		}
	})
}
