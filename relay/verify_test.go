package relay

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/internal/peertest"
	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/maincf"
	"github.com/mxrelay/mxrelay/transport/dnstest"
)

// While the probe has not answered, the backup MX answers 450 "Address
// verification in progress", as Postfix's smtpd after its polls; once it
// has, the answer is the probe's, from the cache, without a second
// probe.
func TestVerifyInProgress(t *testing.T) {
	release := make(chan struct{})
	var rcpts atomic.Int32
	sink := peertest.Script(t, "220 primary.test ESMTP\r\n", func(cmd string) string {
		switch verb, _, _ := strings.Cut(strings.ToUpper(cmd), " "); verb {
		case "EHLO":
			return "250-primary.test\r\n250 PIPELINING\r\n"
		case "MAIL", "RSET":
			return "250 2.1.0 Ok\r\n"
		case "RCPT":
			rcpts.Add(1)
			<-release // the primary is slow to answer
			return "550 5.1.1 <nobody@v.test>: User unknown\r\n"
		}
		return ""
	})
	c := verifyRelay(t, sink, `relay_domains = v.test
relay_recipient_maps =
transport_maps = inline:{v.test=relay:[127.0.0.5]}
smtpd_recipient_restrictions = reject_unverified_recipient
unverified_recipient_reject_code = 550
address_verify_poll_count = 2
address_verify_poll_delay = 1s
`)
	c.cmd(t, "MAIL FROM:<sender@example.org>")
	start := time.Now()
	code, enh, text := c.cmd(t, "RCPT TO:<nobody@v.test>")
	if code != 450 || enh != "4.1.1" || text != "<nobody@v.test>: Recipient address rejected: unverified address: Address verification in progress" {
		t.Errorf("while the probe runs: %d %s %s", code, enh, text)
	}
	if waited := time.Since(start); waited < 900*time.Millisecond || waited > 5*time.Second {
		t.Errorf("waited %v for the probe, want about (poll_count-1) * poll_delay = 1s", waited)
	}
	close(release)
	waitUntil(t, func() bool {
		code, _, _ := c.cmd(t, "RCPT TO:<nobody@v.test>")
		return code == 550
	})
	if n := rcpts.Load(); n != 1 {
		t.Errorf("the primary was probed %d times, want 1", n)
	}
}

// redirect is a dialer that sends from to the address to, refusing
// everything else.
func redirect(from, to string) dialerFunc {
	m := map[string]string{from: to}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return dialMapped(ctx, network, addr, m)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
}

// verifyRelay loads a relay on the lab's base main.cf and settings, with
// 127.0.0.5:25 (where transport_maps sends v.test) redirected to sink,
// and returns a session to it after EHLO.
func verifyRelay(t *testing.T, sink, settings string) *labConn {
	t.Helper()
	cf, err := maincf.Parse(strings.NewReader(labBase+settings), "main.cf")
	if err != nil {
		t.Fatal(err)
	}
	d, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ld, err := Load(context.Background(), cf, LoadOptions{Queue: queue.NewMemory(), DNS: []string{d.Addr()},
		Dialer:         redirect("127.0.0.5:25", sink),
		InterfaceAddrs: func() ([]netip.Prefix, error) { return []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ld.Close() })
	_, addr := serve(t, ld.Server)
	return labDial(t, addr)
}
