package relay

import (
	"crypto/tls"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"
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
	if !ends[0].TLS || ends[0].Accepted != 0 || ends[1].TLS || ends[1].Accepted != 1 || !ends[1].Client.IsLoopback() {
		t.Errorf("session ends: %+v", ends)
	}
}
