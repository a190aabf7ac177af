package relay

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/netip"
	"net/textproto"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// The counters follow anvil.c: a client's rates reset when a time unit
// has passed since the first event of the count (all rates together), a
// stale rate reads 0, and a client is forgotten a time unit after its
// last connection ended.
func TestAnvilCounts(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	a := newAnvil(RateLimits{ConnectionRate: 2}, func() time.Time { return now })
	c := netip.MustParseAddr("192.0.2.7")
	for want := 1; want <= 3; want++ {
		if got := a.connect(c); got != want {
			t.Fatalf("connection %d: rate %d", want, got)
		}
	}
	if got := a.event(c, eventMail); got != 1 {
		t.Errorf("first MAIL: rate %d", got)
	}
	now = now.Add(60 * time.Second) // exactly one unit: not yet over
	if got := a.event(c, eventMail); got != 2 {
		t.Errorf("MAIL at the end of the unit: rate %d, want 2", got)
	}
	now = now.Add(time.Second)
	if got := a.rate(c, eventMail); got != 0 {
		t.Errorf("stale MAIL rate %d, want 0", got)
	}
	if got := a.event(c, eventRcpt); got != 1 {
		t.Errorf("RCPT in a new unit: rate %d, want 1", got)
	}
	if got := a.connect(c); got != 1 {
		t.Errorf("connection in a new unit: rate %d, want 1 (rates reset together)", got)
	}
	for range 4 {
		a.disconnect(c)
	}
	a.disconnect(c) // more disconnects than connects change nothing
	now = now.Add(30 * time.Second)
	if got := a.connect(c); got != 2 {
		t.Errorf("reconnect within a unit of the last disconnect: rate %d, want 2 (remembered)", got)
	}
	a.disconnect(c)
	now = now.Add(61 * time.Second)
	if got := a.connect(c); got != 1 {
		t.Errorf("reconnect a unit after the last disconnect: rate %d, want 1 (forgotten)", got)
	}
	a.disconnect(c)

	// Clients that come and go do not grow the map without bound.
	for i := range 5000 {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		a.connect(ip)
		a.disconnect(ip)
		now = now.Add(100 * time.Millisecond)
	}
	a.mu.Lock()
	n := len(a.clients)
	a.mu.Unlock()
	if n > 2*minSweep {
		t.Errorf("%d clients remembered after 5000 short sessions over 500s, want at most %d", n, 2*minSweep)
	}
}

// smtpd_client_new_tls_session_rate_limit: the handshake that goes over
// the limit ends the session with 421 over TLS; later, STARTTLS itself
// is refused with 454, as Postfix's smtpd.c does; a client of
// smtpd_client_event_limit_exceptions counts nothing.
func TestNewTLSSessionRateLimit(t *testing.T) {
	certFile, keyFile := writeTLSFiles(t)
	for _, exceptions := range []string{"", "127.0.0.0/8"} {
		_, addr := loadAndServe(t, fmt.Sprintf(`compatibility_level = 3.6
myhostname = mx2.example.test
relay_domains = example.test
smtpd_tls_cert_file = %s
smtpd_tls_key_file = %s
smtpd_tls_security_level = may
smtpd_client_new_tls_session_rate_limit = 1
smtpd_client_event_limit_exceptions = %s
`, certFile, keyFile, exceptions), LoadOptions{})
		cfg := &tls.Config{InsecureSkipVerify: true}
		c, err := smtp.DialStartTLS(addr, cfg)
		if err != nil {
			t.Fatalf("first STARTTLS: %v", err)
		}
		if err := c.Noop(); err != nil {
			t.Fatalf("first TLS session: %v", err)
		}
		c.Close()
		c, err = smtp.DialStartTLS(addr, cfg)
		if err == nil {
			err = c.Noop()
			c.Close()
		}
		var se *smtp.SMTPError
		if exceptions != "" {
			if err != nil {
				t.Errorf("exempt client: second TLS session: %v", err)
			}
			continue
		}
		if !errors.As(err, &se) || se.Code != 421 || se.Message != "mx2.example.test Error: too many new TLS sessions from unknown[127.0.0.1]" {
			t.Errorf("second TLS session: %v, want 421 too many new TLS sessions", err)
		}
		tc, err := textproto.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := tc.ReadResponse(220); err != nil {
			t.Fatal(err)
		}
		if err := tc.PrintfLine("EHLO client.example"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := tc.ReadResponse(250); err != nil {
			t.Fatal(err)
		}
		tc.PrintfLine("STARTTLS")
		code, msg, _ := tc.ReadResponse(0)
		tc.Close()
		if code != 454 || msg != "4.7.0 Error: too many new TLS sessions from unknown[127.0.0.1]" {
			t.Errorf("third STARTTLS: %d %s, want 454 4.7.0 Error: too many new TLS sessions from unknown[127.0.0.1]", code, msg)
		}
	}
}

func TestRateLimitsDefaultsLimitNothing(t *testing.T) {
	a := newAnvil(RateLimits{}, time.Now)
	if !a.exempt(context.Background(), netip.MustParseAddr("192.0.2.1")) {
		t.Error("with no limits a client is counted")
	}
}

// writeTLSFiles writes a self-signed certificate and its key as PEM
// files, for smtpd_tls_cert_file and smtpd_tls_key_file.
func writeTLSFiles(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	cert := selfSigned(t)
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile = writeFile(t, dir, "cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})))
	keyFile = writeFile(t, dir, "key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})))
	return certFile, keyFile
}

// A connection the per-client count limit refuses still counts toward
// the connection rate, as anvil counts every connection: after two held
// and refused connections, with a rate of 2, the next one is refused by
// the rate even with no connection open.
func TestRefusedConnectionsCountTowardTheRate(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	r := &MX{anvil: newAnvil(RateLimits{ConnectionRate: 2}, func() time.Time { return now })}
	c := netip.MustParseAddr("192.0.2.7")
	r.countRefused(context.Background(), c)
	r.countRefused(context.Background(), c)
	if got := r.anvil.connect(c); got != 3 {
		t.Errorf("rate after two refused connections and one admitted: %d, want 3", got)
	}
}
