package client

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/internal/testenv"
)

// syncBuffer collects smtp-sink's output while it runs.
type syncBuffer = testenv.Buffer

// startSink runs Postfix's smtp-sink with counters (-c) on addr and waits
// until it accepts connections.
func startSink(t testing.TB, network, addr string, args ...string) *syncBuffer {
	t.Helper()
	bin := testenv.NeedProgram(t, "smtp-sink")
	argv := []string{"-c"}
	if os.Geteuid() == 0 {
		argv = append(argv, "-u", "nobody") // smtp-sink refuses to run as root
	}
	argv = append(argv, args...)
	spec := addr
	if network == "unix" {
		spec = "unix:" + addr
	}
	argv = append(argv, spec, "100")
	cmd := exec.Command(bin, argv...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial(network, addr)
		if err == nil {
			c.Close()
			// The probe counts as a session; wait until it is recorded.
			waitFor(t, out, "sess=1 ")
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("smtp-sink did not start: %v; output %q", err, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitFor(t testing.TB, out *syncBuffer, s string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("smtp-sink counters never showed %q: %q", s, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestSMTPSink delivers to Postfix's smtp-sink: the messages arrive over
// one pipelined connection, and the session ends with QUIT.
func TestSMTPSink(t *testing.T) {
	addr := freePort(t)
	out := startSink(t, "tcp", addr)
	var wl writeLog
	c := newClient(t, func(c *Config) { c.Dialer = wl.dialer() })
	const n = 10
	for i := range n {
		m := msg("sender@src.test", fmt.Sprintf("Subject: %d\n\n.body %d\n", i, i), "a@dst.test", "b@dst.test")
		m.Recipients[0].Notify = "FAILURE"
		res, err := c.Deliver(context.Background(), Target{Host: "sink.test", Address: addr, TLS: TLSNone}, m)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		wantStatus(t, res, Delivered, Delivered)
		if r := res.Recipients[0].Reply; r.Code != 250 || r.Enhanced != (EnhancedCode{2, 0, 0}) {
			t.Errorf("reply %v", r)
		}
	}
	c.Close()
	// One session (plus the startup probe), one QUIT, n messages.
	waitFor(t, out, fmt.Sprintf("sess=2 quit=1 mesg=%d", n))
	wl.mu.Lock()
	dials := wl.dials
	wl.mu.Unlock()
	if dials != 1 {
		t.Errorf("%d connections for %d messages", dials, n)
	}
	// Pipelining: each transaction's commands left in one write.
	pipelined := 0
	for _, w := range wl.all() {
		if strings.Contains(w, "MAIL FROM:<sender@src.test>") && strings.Contains(w, "RCPT TO:<a@dst.test> NOTIFY=FAILURE\r\nRCPT TO:<b@dst.test>\r\nDATA\r\n") {
			pipelined++
		}
	}
	if pipelined != n {
		t.Errorf("%d of %d transactions pipelined; writes %q", pipelined, n, wl.all())
	}
}

// TestLMTPSink delivers over LMTP on a UNIX-domain socket to smtp-sink -L.
func TestLMTPSink(t *testing.T) {
	dir, err := os.MkdirTemp("", "lmtp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s")
	out := startSink(t, "unix", sock, "-L")
	c := newClient(t, nil)
	tg := Target{Host: "lmtp.test", Network: "unix", Address: sock, LMTP: true, TLS: TLSNone}
	for range 3 {
		res, err := c.Deliver(context.Background(), tg, msg("s@src.test", "x\n", "a@dst.test", "b@dst.test", "c@dst.test"))
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, res, Delivered, Delivered, Delivered)
	}
	c.Close()
	waitFor(t, out, "sess=2 quit=1 mesg=3")
}

// BenchmarkDeliverSMTPSink delivers 4 KiB messages over one reused,
// pipelined connection to Postfix's smtp-sink.
func BenchmarkDeliverSMTPSink(b *testing.B) {
	addr := freePort(b)
	startSink(b, "tcp", addr)
	c := newClient(b, nil)
	body := benchBody(4 << 10)
	m := &Message{From: "a@src.test", Recipients: []Recipient{{Address: "u@dst.test"}},
		Body: bytes.NewReader(body), Size: int64(len(body))}
	tg := Target{Host: "sink.test", Address: addr, TLS: TLSNone}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Deliver(context.Background(), tg, m); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
