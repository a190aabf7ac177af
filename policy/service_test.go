package policy

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// testServer is an in-process policy server on 127.0.0.1: answer is called
// with every request's attributes and returns the raw reply to send, or
// "" to close the connection without replying.
type testServer struct {
	addr  string
	conns atomic.Int32
	mu    sync.Mutex
	reqs  []map[string]string
}

func startServer(t *testing.T, network string, answer func(attrs map[string]string) string) *testServer {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = t.TempDir() + "/policy.sock"
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			wg.Add(1)
			go func() { defer wg.Done(); s.serve(c, answer) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return s
}

func (s *testServer) serve(c net.Conn, answer func(map[string]string) string) {
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		attrs, err := readAttrs(r)
		if err != nil {
			return
		}
		s.mu.Lock()
		s.reqs = append(s.reqs, attrs)
		s.mu.Unlock()
		reply := answer(attrs)
		if reply == "" {
			return
		}
		if _, err := c.Write([]byte(reply)); err != nil {
			return
		}
	}
}

func readAttrs(r *bufio.Reader) (map[string]string, error) {
	attrs := map[string]string{}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			return attrs, nil
		}
		k, v, _ := strings.Cut(line, "=")
		attrs[k] = v
	}
}

func policyConfig(service string) Config {
	c := backupMX()
	c.RelayRecipientMaps = ""
	c.SMTPDRecipientRestrictions = "reject_unauth_destination, check_policy_service " + service
	c.SMTPDPolicyServiceRetryDelay = time.Millisecond
	return c
}

func TestPolicyServiceProtocol(t *testing.T) {
	srv := startServer(t, "tcp", func(a map[string]string) string {
		local, _, _ := strings.Cut(a["recipient"], "@")
		switch local {
		case "reject":
			return "action=REJECT not wanted\n\n"
		case "extra":
			return "other=ignored\naction=DEFER_IF_PERMIT later\n\n"
		}
		return "action=DUNNO\n\n"
	})
	c := policyConfig("inet:" + srv.addr)
	c.SMTPDPolicyServicePolicyContext = "mx1"
	p := mustNew(t, c)
	req := &Request{Stage: StageRcpt, ClientAddr: netip.MustParseAddr("203.0.113.5"), ClientPort: 40000,
		ClientName: "mail.sender.example", Helo: "mail.sender.example", Sender: "<alice@sender.example>",
		Recipient: "<reject@backup.example>", Size: 12345, SASLMethod: "PLAIN", SASLUsername: "alice",
		TLS: &TLS{Protocol: "TLSv1.3", Cipher: "TLS_AES_128_GCM_SHA256", KeySize: 128}, Instance: "abc.1"}
	wantReply(t, p.Check(context.Background(), req), "554 5.7.1 <reject@backup.example>: Recipient address rejected: not wanted")
	req.Recipient = "<extra@backup.example>"
	wantReply(t, p.Check(context.Background(), req), "450 4.7.1 <extra@backup.example>: Recipient address rejected: later")
	req.Recipient = "<ok@backup.example>"
	d := p.Check(context.Background(), req)
	wantReply(t, d, "250 2.1.5 Ok")
	// The relay check comes first: the server never hears of strangers' relay attempts.
	req.Recipient = "<reject@stranger.example>"
	wantReply(t, p.Check(context.Background(), req), "554 5.7.1 <reject@stranger.example>: Relay access denied")

	if n := srv.conns.Load(); n != 1 {
		t.Errorf("%d connections for 3 requests, want 1 (reuse)", n)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.reqs) != 3 {
		t.Fatalf("%d requests", len(srv.reqs))
	}
	want := map[string]string{"request": "smtpd_access_policy", "protocol_state": "RCPT", "protocol_name": "ESMTP",
		"client_address": "203.0.113.5", "client_name": "mail.sender.example", "client_port": "40000",
		"reverse_client_name": "unknown", "helo_name": "mail.sender.example", "sender": "alice@sender.example",
		"recipient": "reject@backup.example", "recipient_count": "0", "instance": "abc.1", "size": "12345",
		"sasl_method": "PLAIN", "sasl_username": "alice", "encryption_protocol": "TLSv1.3",
		"encryption_cipher": "TLS_AES_128_GCM_SHA256", "encryption_keysize": "128", "policy_context": "mx1", "ccert_subject": ""}
	for k, v := range want {
		if got, ok := srv.reqs[0][k]; !ok || got != v {
			t.Errorf("attribute %s = %q (present %v), want %q", k, got, ok, v)
		}
	}
}

func TestPolicyServiceFailures(t *testing.T) {
	var mode atomic.Value
	srv := startServer(t, "tcp", func(a map[string]string) string {
		switch mode.Load().(string) {
		case "close":
			return ""
		case "garbage":
			return "this is not an attribute\n\n"
		case "noaction":
			return "foo=bar\n\n"
		case "huge":
			return "action=REJECT " + strings.Repeat("x", 70000) + "\n\n"
		case "long":
			return "action=REJECT " + strings.Repeat("y", 6000) + "\n\n"
		}
		return "action=OK\n\n"
	})
	p := mustNew(t, policyConfig("inet:"+srv.addr))
	for _, m := range []string{"close", "garbage", "noaction", "huge"} {
		mode.Store(m)
		srv.mu.Lock()
		before := len(srv.reqs)
		srv.mu.Unlock()
		d := rcpt(p, "203.0.113.5", "<u@backup.example>")
		wantReply(t, d, "451 4.3.5 <u@backup.example>: Recipient address rejected: Server configuration problem")
		var se *ServiceError
		if !errors.As(d.Err, &se) {
			t.Errorf("%s: Err = %v, want a *ServiceError", m, d.Err)
		}
		// smtpd_policy_service_try_limit = 2: two attempts.
		srv.mu.Lock()
		if n := len(srv.reqs) - before; n != 2 {
			t.Errorf("%s: %d attempts, want 2", m, n)
		}
		srv.mu.Unlock()
		mode.Store("ok")
		wantReply(t, rcpt(p, "203.0.113.5", "<u@backup.example>"), "250 2.1.5 Ok")
	}
	// A reply line longer than the read buffer but within the cap is fine.
	mode.Store("long")
	if d := rcpt(p, "203.0.113.5", "<u@backup.example>"); d.Code != 554 || !strings.HasSuffix(d.Text, strings.Repeat("y", 6000)) {
		t.Errorf("long reply: %.80s (%v)", d.Reply(), d.Err)
	}
	// Per-service options: another default action, one try.
	p = mustNew(t, policyConfig("{ inet:"+srv.addr+", default_action=DUNNO, try_limit=1 }"))
	mode.Store("close")
	before := srv.conns.Load()
	wantReply(t, rcpt(p, "203.0.113.5", "<u@backup.example>"), "250 2.1.5 Ok")
	if n := srv.conns.Load() - before; n != 1 {
		t.Errorf("try_limit=1: %d connections", n)
	}
	// Nobody listening.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	p = mustNew(t, policyConfig("inet:"+dead))
	wantReply(t, rcpt(p, "203.0.113.5", "<u@backup.example>"), "451 4.3.5 <u@backup.example>: Recipient address rejected: Server configuration problem")
}

func TestPolicyServiceUnixAndRequestLimit(t *testing.T) {
	srv := startServer(t, "unix", func(map[string]string) string { return "action=OK\n\n" })
	c := policyConfig("unix:" + srv.addr)
	c.SMTPDPolicyServiceRequestLimit = 2
	p := mustNew(t, c)
	for range 4 {
		wantReply(t, rcpt(p, "203.0.113.5", "<u@backup.example>"), "250 2.1.5 Ok")
	}
	if n := srv.conns.Load(); n != 2 {
		t.Errorf("request_limit=2, 4 requests: %d connections, want 2", n)
	}
}

// pipeServer is a policy server on net.Pipe, for synctest bubbles: it reads
// requests and, depending on hang, never answers.
func pipeDial(dials *atomic.Int32, hang bool) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		client, server := net.Pipe()
		go func() {
			defer server.Close()
			r := bufio.NewReader(server)
			for {
				if _, err := readAttrs(r); err != nil {
					return
				}
				if hang {
					continue // read on, never answer
				}
				server.Write([]byte("action=OK\n\n"))
			}
		}()
		return client, nil
	}
}

func TestPolicyServiceHang(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var dials atomic.Int32
		c := policyConfig("inet:policy.invalid:9998")
		c.SMTPDPolicyServiceRetryDelay = 0 // Postfix default 1s
		c.Dial = pipeDial(&dials, true)
		p, err := New(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		start := time.Now()
		d := rcpt(p, "203.0.113.5", "<u@backup.example>")
		wantReply(t, d, "451 4.3.5 <u@backup.example>: Recipient address rejected: Server configuration problem")
		// Two tries of smtpd_policy_service_timeout (100s) and one retry_delay (1s), on the fake clock.
		if el := time.Since(start); el != 201*time.Second {
			t.Errorf("gave up after %v, want 2 x 100s + 1s", el)
		}
		if dials.Load() != 2 {
			t.Errorf("%d dials", dials.Load())
		}
		// A cancelled context ends the wait at once.
		ctx, cancel := context.WithCancel(context.Background())
		go func() { time.Sleep(5 * time.Second); cancel() }()
		start = time.Now()
		d = p.Check(ctx, &Request{Stage: StageRcpt, ClientAddr: netip.MustParseAddr("203.0.113.5"), Recipient: "<u@backup.example>"})
		if d.Code != 451 || !errors.Is(d.Err, context.Canceled) || time.Since(start) != 5*time.Second {
			t.Errorf("cancelled: %s after %v, err %v", d.Reply(), time.Since(start), d.Err)
		}
	})
}

func TestPolicyServiceIdleExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var dials atomic.Int32
		c := policyConfig("inet:policy.invalid:9998")
		c.Dial = pipeDial(&dials, false)
		p, err := New(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		wantReply(t, rcpt(p, "203.0.113.5", "<u@backup.example>"), "250 2.1.5 Ok")
		time.Sleep(299 * time.Second)
		wantReply(t, rcpt(p, "203.0.113.5", "<u@backup.example>"), "250 2.1.5 Ok")
		if dials.Load() != 1 {
			t.Errorf("connection not reused within max_idle: %d dials", dials.Load())
		}
		time.Sleep(301 * time.Second) // smtpd_policy_service_max_idle = 300s
		wantReply(t, rcpt(p, "203.0.113.5", "<u@backup.example>"), "250 2.1.5 Ok")
		if dials.Load() != 2 {
			t.Errorf("idle connection reused after max_idle: %d dials", dials.Load())
		}
		for range 5 { // smtpd_policy_service_max_ttl = 1000s
			time.Sleep(250 * time.Second)
			rcpt(p, "203.0.113.5", "<u@backup.example>")
		}
		if dials.Load() != 3 {
			t.Errorf("max_ttl: %d dials, want 3", dials.Load())
		}
	})
}

// TestPolicyServiceStaleConnection: a server that closes idle connections
// (here: after every reply) costs no attempt, even with try_limit=1.
func TestPolicyServiceStaleConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			if _, err := readAttrs(bufio.NewReader(c)); err == nil {
				c.Write([]byte("action=REJECT one shot\n\n"))
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	p := mustNew(t, policyConfig("{ inet:"+ln.Addr().String()+", try_limit=1 }"))
	for range 3 {
		wantReply(t, rcpt(p, "203.0.113.5", "<u@backup.example>"), "554 5.7.1 <u@backup.example>: Recipient address rejected: one shot")
	}
	if n := conns.Load(); n != 3 {
		t.Errorf("%d connections for 3 one-shot requests", n)
	}
}

// TestPolicyServiceFakeClock: Config.Now only measures connection
// lifetimes; a clock far from the wall clock (a test's frozen time) must
// not make every socket deadline expired.
func TestPolicyServiceFakeClock(t *testing.T) {
	srv := startServer(t, "tcp", func(map[string]string) string { return "action=REJECT fake clock\n\n" })
	for _, now := range []time.Time{time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2201, 1, 1, 0, 0, 0, 0, time.UTC)} {
		c := policyConfig("inet:" + srv.addr)
		c.Now = func() time.Time { return now }
		p := mustNew(t, c)
		for range 2 {
			wantReply(t, rcpt(p, "203.0.113.5", "<u@backup.example>"), "554 5.7.1 <u@backup.example>: Recipient address rejected: fake clock")
		}
	}
}

// resetConn answers one request, then fails the next read with a
// connection reset, as a socket does when the server closed it and our
// next request reached the closed end.
type resetConn struct {
	net.Conn
	reads int
}

func (c *resetConn) Read(b []byte) (int, error) {
	if c.reads++; c.reads > 1 {
		return 0, &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	}
	return copy(b, "action=REJECT one shot\n\n"), nil
}

func (c *resetConn) Write(b []byte) (int, error)        { return len(b), nil }
func (c *resetConn) SetDeadline(time.Time) error        { return nil }
func (c *resetConn) Close() error                       { return nil }
func (c *resetConn) SetReadDeadline(time.Time) error    { return nil }
func (c *resetConn) SetWriteDeadline(t time.Time) error { return nil }

// TestPolicyServiceResetIdle: an idle connection that answers our next
// request with a reset (not EOF) is stale too: no attempt is lost.
func TestPolicyServiceResetIdle(t *testing.T) {
	var dials atomic.Int32
	c := policyConfig("{ inet:policy.invalid:9998, try_limit=1 }")
	c.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return &resetConn{}, nil
	}
	p := mustNew(t, c)
	for range 3 {
		wantReply(t, rcpt(p, "203.0.113.5", "<u@backup.example>"), "554 5.7.1 <u@backup.example>: Recipient address rejected: one shot")
	}
	if n := dials.Load(); n != 3 {
		t.Errorf("%d dials for 3 requests on connections reset when idle", n)
	}
}

// TestPolicyServiceRelativeSocket: "unix:private/policy" resolves against
// SocketDirectory, as Postfix's smtpd, running in queue_directory, finds
// it there; not against the working directory.
func TestPolicyServiceRelativeSocket(t *testing.T) {
	srv := startServer(t, "unix", func(map[string]string) string { return "action=REJECT from the relative socket\n\n" })
	dir := filepath.Dir(srv.addr)
	c := policyConfig("unix:" + filepath.Base(srv.addr))
	c.SocketDirectory = dir
	wantReply(t, rcpt(mustNew(t, c), "203.0.113.5", "<u@backup.example>"), "554 5.7.1 <u@backup.example>: Recipient address rejected: from the relative socket")
	c.SocketDirectory = t.TempDir() // no socket there
	wantReply(t, rcpt(mustNew(t, c), "203.0.113.5", "<u@backup.example>"), "451 4.3.5 <u@backup.example>: Recipient address rejected: Server configuration problem")
}
