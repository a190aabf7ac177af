package daemon

import (
	"fmt"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestBeforeQueueFilter runs SMTPD_PROXY_README's before-queue filter
// through an mxrelayd process: the MX port's service has
// "-o smtpd_proxy_filter=127.0.0.1:port", a Go filter tags each message
// and sends it to the reinjection port (-o smtpd_proxy_filter=) before
// it answers, and its answer is the client's. Every message the client
// had acknowledged reaches the inside host tagged, exactly once, with
// the proxied listener's Received: field (no queue ID: it never queued
// the message) under the tag.
func TestBeforeQueueFilter(t *testing.T) {
	dir := t.TempDir()
	inside := startSink(t, "127.0.0.1:0")
	mx, reinject := freePort(t), freePort(t)
	filter := startFilter(t, "127.0.0.1:"+reinject)
	cfg := filepath.Join(dir, "main.cf")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`compatibility_level = 3.6
myhostname = gw.example.test
mydestination =
mynetworks = 127.0.0.0/8
relay_domains = example.test
relay_transport = relay:[127.0.0.1]:%s
`, portOf(inside.addr))), 0o644)
	os.WriteFile(filepath.Join(dir, "master.cf"), []byte(fmt.Sprintf(`127.0.0.1:%s inet n - n - - smtpd
  -o smtpd_proxy_filter=127.0.0.1:%s
  -o smtpd_proxy_timeout=20s
127.0.0.1:%s inet n - n - - smtpd
  -o smtpd_proxy_filter=
  -o receive_override_options=no_unknown_recipient_checks
`, mx, portOf(filter.addr), reinject)), 0o644)
	start(t, "-config", cfg, "-queue", filepath.Join(dir, "q"), "-dns", noDNS)
	waitFor(t, "mxrelayd listening", func() bool {
		for _, p := range []string{mx, reinject} {
			c, err := net.Dial("tcp", "127.0.0.1:"+p)
			if err != nil {
				return false
			}
			c.Close()
		}
		return true
	})

	send := func(id string) {
		msg := fmt.Sprintf("From: s@sender.example\r\nTo: u@example.test\r\nSubject: %s\r\nX-Case: %s\r\n\r\nbody %s\r\n", id, id, id)
		code, text, err := sendReply("127.0.0.1:"+mx, "s@sender.example", "u@example.test", msg)
		if err != nil || code != 250 {
			t.Errorf("%s: %d %s %v", id, code, text, err)
			return
		}
		// go-smtp's reply, the filter's: mxrelayd says "Ok: queued as".
		if text != "2.0.0 OK: queued" {
			t.Errorf("%s: end of data %q, not the filter's reply", id, text)
		}
	}
	const n = 10
	for i := range n {
		send(fmt.Sprintf("m%d", i))
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); send(fmt.Sprintf("c%d", i)) }()
	}
	wg.Wait()
	arrived := func() map[string]int { return taggedArrivals(t, inside) }
	waitFor(t, "every message at the inside host", func() bool { return len(arrived()) == 2*n })
	got := arrived()
	for id, c := range got {
		if c != 1 {
			t.Errorf("%s arrived %d times", id, c)
		}
	}
	m := inside.messages()[0]
	head, _, _ := strings.Cut(m, "\r\n\r\n")
	if !strings.Contains(head, "X-Tag: scanned\r\nReceived: from ") || !strings.Contains(head, "by gw.example.test (Postfix) with ESMTP\r\n\tfor <u@example.test>;") {
		t.Errorf("the proxied listener's Received: field, under the tag, without queue ID:\n%s", head)
	}
	filter.mu.Lock()
	reinjected := len(filter.reinjected)
	filter.mu.Unlock()
	if reinjected != 2*n {
		t.Errorf("the filter reinjected %d messages, want %d", reinjected, 2*n)
	}
	t.Logf("%d messages through the before-queue filter, each at the inside host once", 2*n)
}

// sendReply sends one message and returns the reply to its end of data.
func sendReply(addr, from, to, msg string) (int, string, error) {
	c, err := textproto.Dial("tcp", addr)
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	step := func(want int, cmd string) (int, string, error) {
		if cmd != "" {
			if err := c.PrintfLine("%s", cmd); err != nil {
				return 0, "", err
			}
		}
		return c.ReadResponse(want)
	}
	for _, s := range []struct {
		want int
		cmd  string
	}{{220, ""}, {250, "EHLO client.example"}, {250, "MAIL FROM:<" + from + ">"}, {250, "RCPT TO:<" + to + ">"}, {354, "DATA"}} {
		if code, text, err := step(s.want, s.cmd); err != nil {
			return code, text, err
		}
	}
	w := c.DotWriter()
	w.Write([]byte(msg))
	w.Close()
	code, text, err := c.ReadResponse(250)
	c.PrintfLine("QUIT")
	return code, text, err
}
