package relay

import (
	"fmt"
	"net"
	"net/smtp"
	"sync"
	"testing"
)

// A message for two destinations, the first of which hangs (it accepts
// the connection and never greets), reaches the second at once: the
// destinations of a message are tried concurrently, as Postfix's queue
// manager hands each to a delivery agent of its own, so that one dead
// next hop does not hold up the others.
func TestHangingDestinationDoesNotDelayOthers(t *testing.T) {
	fast := startSink(t)
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := hang.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // silent until the test ends
			mu.Unlock()
		}
	}()
	_, addr := loadAndServe(t, fmt.Sprintf(`compatibility_level = 3.6
myhostname = mx.example.net
mydestination =
mynetworks = 127.0.0.0/8
relay_domains = hang.example, fast.example
transport_maps = inline:{ hang.example=relay:[127.0.0.1]:%s, fast.example=relay:[127.0.0.1]:%s }
`, port(hang.Addr().String()), port(fast.addr)), LoadOptions{})
	// Registered after loadAndServe's, so it runs first: the hung
	// delivery ends before the server's Close waits for it.
	t.Cleanup(func() {
		hang.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	if err := smtp.SendMail(addr, nil, "a@sender.example", []string{"u@hang.example", "v@fast.example"},
		[]byte("Subject: two destinations\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	// wait fails the test after 20s; the hanging hop holds its attempt
	// for smtp_helo_timeout (300s).
	got := fast.wait(1)
	if len(got[0].To) != 1 || got[0].To[0] != "v@fast.example" {
		t.Errorf("the fast destination got %v, want v@fast.example only", got[0].To)
	}
}
