package relay

import (
	"context"
	"fmt"
	"net/smtp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/queue"
)

// TestSlowTableDoesNotStallQueue: a routing table that hangs for one
// domain holds up only the session or the delivery that asked. Other
// sessions store their mail and the delivery loop claims and delivers it
// meanwhile, also while a queued message for the hanging domain is due,
// because destinations are looked up when a recipient is accepted and the
// queue never consults a table under its locks.
func TestSlowTableDoesNotStallQueue(t *testing.T) {
	inside := startSink(t)
	release := make(chan struct{})
	var releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(free)
	hung := make(chan struct{}, 64)
	var hang atomic.Bool
	slow := lookup.TableFunc(func(ctx context.Context, key string) (string, bool, error) {
		if strings.Contains(key, "slow.example") && hang.Load() {
			hung <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
				return "", false, ctx.Err()
			}
		}
		return "", false, nil
	})
	mainCF := fmt.Sprintf(`compatibility_level = 3.6
myhostname = mx.example.net
mydestination =
mynetworks = 127.0.0.0/8
relay_domains = slow.example, fast.example
relay_transport = relay:[127.0.0.1]:%s
transport_maps = go:slow
`, port(inside.addr))
	ld, addr := loadAndServe(t, mainCF, LoadOptions{Tables: map[string]lookup.Table{"go:slow": slow}})

	// A message for the slow domain is queued (the server's delivery
	// workers take it at once, and its route hangs), as is the RCPT of a
	// new session for that domain.
	hang.Store(true)
	env := &queue.Envelope{Sender: "q@sender.example", Recipients: []queue.Recipient{{Address: "w@slow.example", Destination: "relay:[127.0.0.1]"}}}
	if err := ld.MX.Queue().Store(context.Background(), env, strings.NewReader("Subject: queued\r\n\r\nqueued first\r\n")); err != nil {
		t.Fatal(err)
	}

	stuck := make(chan error, 1)
	go func() {
		c, err := smtp.Dial(addr)
		if err != nil {
			stuck <- err
			return
		}
		defer c.Close()
		if err := c.Mail("a@sender.example"); err != nil {
			stuck <- err
			return
		}
		stuck <- c.Rcpt("u@slow.example")
	}()
	<-hung // the delivery of the queued message and the session are
	<-hung // both inside the table now

	if err := smtp.SendMail(addr, nil, "b@sender.example", []string{"v@fast.example"}, []byte("Subject: fast\r\n\r\nnot held up\r\n")); err != nil {
		t.Fatalf("a session while the table hangs: %v", err)
	}
	// inside.wait fails the test if the message does not arrive: stored,
	// claimed and delivered while the table still hangs.
	var fast bool
	for _, m := range inside.wait(1) {
		fast = fast || m.To[0] == "v@fast.example"
	}
	if !fast {
		t.Errorf("delivered %+v, want v@fast.example", inside.messages())
	}
	select {
	case err := <-stuck:
		t.Fatalf("the slow session finished before its table answered: %v", err)
	default:
	}
	free()
	if err := <-stuck; err != nil {
		t.Errorf("the slow recipient after the table answered: %v", err)
	}
}
