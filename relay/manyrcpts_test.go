package relay

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/queue"
)

// TestManyPipelinedRecipients: a client that pipelines 1,500 RCPTs gets
// 1,000 accepted and 452 for the rest (smtpd_recipient_limit), which do
// not count as errors (smtpd_recipient_overshoot_limit): the session goes
// on and the message is queued for the 1,000.
func TestManyPipelinedRecipients(t *testing.T) {
	mem := queue.NewMemory()
	_, addr := loadAndServe(t, "compatibility_level = 3.6\nmyhostname = mx.example.net\nrelay_domains = example.test\nrelay_recipient_maps = static:OK\n", LoadOptions{Queue: mem})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	var b strings.Builder
	b.WriteString("EHLO client.example\r\nMAIL FROM:<s@sender.example>\r\n")
	for i := range 1500 {
		fmt.Fprintf(&b, "RCPT TO:<u%d@example.test>\r\n", i)
	}
	b.WriteString("DATA\r\n")
	go c.Write([]byte(b.String()))
	r := bufio.NewReader(c)
	counts := map[string]int{}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("after %v: %v", counts, err)
		}
		if line[3] == '-' {
			continue
		}
		counts[line[:3]]++
		if strings.HasPrefix(line, "354 ") || strings.HasPrefix(line, "421 ") {
			break
		}
	}
	if counts["250"] != 1+1+1000 || counts["452"] != 500 || counts["354"] != 1 {
		t.Fatalf("replies %v, want 1,002 × 250, 500 × 452 and 354", counts)
	}
	fmt.Fprintf(c, "Subject: many\r\n\r\nhello\r\n.\r\n")
	if line, _ := r.ReadString('\n'); !strings.HasPrefix(line, "250 2.0.0 Ok: queued as ") {
		t.Fatalf("end of data: %q", line)
	}
	var n int
	mem.Walk(t.Context(), func(e *queue.Envelope) error { n = len(e.Recipients); return nil })
	if n != 1000 {
		t.Errorf("queued for %d recipients, want 1,000", n)
	}
}
