package relay

import (
	"crypto/tls"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"

	"github.com/mxrelay/mxrelay/transport/dnstest"
)

// TestSessionObserver: a SessionObserver learns of each session's end,
// whether it used STARTTLS (also when the client quits right after it)
// and how many messages it gave.
func TestSessionObserver(t *testing.T) {
	var mu sync.Mutex
	var ends []SessionEnd
	w := newWorld(t, worldOpts{noRun: true, cfg: func(c *Config) {
		c.Observer = ObserverFuncs{SessionEndedFunc: func(e SessionEnd) {
			mu.Lock()
			ends = append(ends, e)
			mu.Unlock()
		}}
	}})
	_, tlsAddr := serve(t, ServerConfig{MX: w.relay, TLS: &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}})

	c, err := smtp.DialStartTLS(tlsAddr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	c = w.dial()
	if err := transact(c, "s@sender.example", []string{"u@example.test"}, "Subject: x\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(ends) == 2 })
	mu.Lock()
	defer mu.Unlock()
	// The server ends sessions on goroutines of their own: in any order.
	tlsEnd, plainEnd := ends[0], ends[1]
	if !tlsEnd.TLS {
		tlsEnd, plainEnd = plainEnd, tlsEnd
	}
	if !tlsEnd.TLS || tlsEnd.Accepted != 0 || plainEnd.TLS || plainEnd.Accepted != 1 || !plainEnd.Client.IsLoopback() {
		t.Errorf("session ends: %+v", ends)
	}
}

// TestAttemptCause: a deferral because DNS failed says so (Cause "dns",
// counted by package metrics as a DNS error); a next hop's refusal has
// no cause of this side.
func TestAttemptCause(t *testing.T) {
	w := newWorld(t, worldOpts{})
	w.dns.SetFault("example.test.", dns.TypeMX, dnstest.ServFail)
	if err := w.send("s@sender.example", []string{"u@example.test"}, "Subject: x\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(w.attempts()) > 0 })
	if a := w.attempts()[0]; a.Status != "deferred" || a.Cause != "dns" {
		t.Errorf("attempt during a DNS failure: %+v", a)
	}
	w.dns.SetFault("example.test.", dns.TypeMX, dnstest.NoFault)
	w.primary.mu.Lock()
	w.primary.reject["v@example.test"] = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	w.primary.mu.Unlock()
	if err := w.send("s@sender.example", []string{"v@example.test"}, "Subject: y\r\n\r\ny\r\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		for _, a := range w.attempts() {
			if a.Recipient == "v@example.test" {
				return true
			}
		}
		return false
	})
	for _, a := range w.attempts() {
		if a.Recipient == "v@example.test" && (a.Status != "bounced" || a.Cause != "") {
			t.Errorf("attempt refused by the next hop: %+v", a)
		}
	}
}
