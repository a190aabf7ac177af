package relay

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/queue"
)

// rawSession is a hand-driven SMTP client, for exact replies and for
// bytes a well-behaved client library would never send.
type rawSession struct {
	t  *testing.T
	c  net.Conn
	tp *textproto.Conn
}

func (w *world) raw() *rawSession {
	w.t.Helper()
	c, err := net.Dial("tcp", w.addr)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { c.Close() })
	s := &rawSession{t: w.t, c: c, tp: textproto.NewConn(c)}
	s.expect(220)
	return s
}

// cmd sends a line and returns the reply's code and text.
func (s *rawSession) cmd(line string) (int, string) {
	s.t.Helper()
	if err := s.tp.PrintfLine("%s", line); err != nil {
		return 0, err.Error()
	}
	code, msg, err := s.tp.ReadResponse(0)
	if err != nil && code == 0 {
		return 0, err.Error()
	}
	return code, msg
}

func (s *rawSession) expect(code int) string {
	s.t.Helper()
	c, msg, err := s.tp.ReadResponse(code)
	if err != nil {
		s.t.Fatalf("want %d, got %d %s (%v)", code, c, msg, err)
	}
	return msg
}

// TestErrorLimit follows smtpd_hard_error_limit (20): 20 rejected RCPTs,
// then the 21st command gets "421 4.7.0 HOSTNAME Error: too many errors"
// and the connection is closed.
func TestErrorLimit(t *testing.T) {
	w := newWorld(t, worldOpts{})
	s := w.raw()
	s.cmd("EHLO client.example")
	if code, _ := s.cmd("MAIL FROM:<s@sender.example>"); code != 250 {
		t.Fatalf("MAIL %d", code)
	}
	for i := 0; i < 20; i++ {
		if code, msg := s.cmd(fmt.Sprintf("RCPT TO:<nosuch%d@example.test>", i)); code != 550 {
			t.Fatalf("RCPT %d: %d %s", i, code, msg)
		}
	}
	code, msg := s.cmd("RCPT TO:<u@example.test>")
	if code != 421 || msg != "4.7.0 mx2.example.test Error: too many errors" {
		t.Errorf("21st command: %d %q", code, msg)
	}
	s.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := s.tp.ReadLine(); !errors.Is(err, io.EOF) {
		t.Errorf("connection still open after 421: %v", err)
	}
}

func TestLimits(t *testing.T) {
	w := newWorld(t, worldOpts{cfg: func(c *Config) {
		c.RecipientLimit = 2
		c.MessageSizeLimit = 1000
		c.HopCountLimit = 3
	}})
	s := w.raw()
	if _, msg := s.cmd("EHLO client.example"); !slices.Contains(strings.Split(msg, "\n"), "SIZE 1000") {
		t.Errorf("EHLO does not advertise SIZE 1000:\n%s", msg)
	}
	if code, msg := s.cmd("MAIL FROM:<s@sender.example> SIZE=1001"); code != 552 || msg != "5.3.4 Message size exceeds fixed limit" {
		t.Errorf("SIZE over the limit: %d %q", code, msg)
	}
	s.cmd("MAIL FROM:<s@sender.example> SIZE=100")
	s.cmd("RCPT TO:<u@example.test>")
	s.cmd("RCPT TO:<v@example.test>")
	if code, msg := s.cmd("RCPT TO:<bad@example.test>"); code != 452 || msg != "4.5.3 Error: too many recipients" {
		t.Errorf("third recipient: %d %q", code, msg)
	}
	for _, tc := range []struct {
		name, body string
		code       int
		text       string
	}{
		{"too big", "Subject: big\r\n\r\n" + strings.Repeat(strings.Repeat("x", 98)+"\r\n", 20), 552, "5.3.4 Error: message file too big"},
		{"too many hops", strings.Repeat("Received: from a by b; date\r\n", 4) + "\r\nx\r\n", 554, "5.4.0 Error: too many hops"},
		{"bare LF", "Subject: x\r\n\r\nline\nsmuggled\r\n", 550, "5.5.2 Error: bare <LF> received"},
	} {
		if code, _ := s.cmd("DATA"); code != 354 {
			t.Fatalf("%s: DATA %d", tc.name, code)
		}
		io.WriteString(s.c, tc.body+".\r\n")
		code, msg, _ := s.tp.ReadResponse(0)
		if code != tc.code || msg != tc.text {
			t.Errorf("%s: %d %q, want %d %q", tc.name, code, msg, tc.code, tc.text)
		}
		s.cmd("MAIL FROM:<s@sender.example>")
		s.cmd("RCPT TO:<u@example.test>")
	}
	if n := w.mem.Len(); n != 0 {
		t.Errorf("%d refused messages stayed in the queue", n)
	}
	if code, _ := s.cmd("QUIT"); code != 221 {
		t.Errorf("QUIT %d", code)
	}
}

// TestSmuggling sends the known end-of-data tricks, each followed by a
// would-be second transaction. Whatever the mode, every message the relay
// answers 250 reaches the next hop as exactly one message, from the real
// sender to the real recipient, with the smuggled commands as text and
// only CRLF line endings; with bare line endings refused (the default)
// the tricks that reach the relay as bare CR or LF are answered 550.
func TestSmuggling(t *testing.T) {
	tricks := []struct {
		name, seq string
		rejected  bool // in BareReject mode
	}{
		{`\n.\n`, "\n.\n", true},
		{`\n.\r\n`, "\n.\r\n", true},
		{`\r.\r\n`, "\r.\r\n", true},
		{`\r\n.\n`, "\r\n.\n", true},
		{`bare CR`, "\r", true},
		{`lone LF`, "\n", true},
		// A dot line not ended by CR LF: the dot is unstuffed and the bare
		// CR stays in the text.
		{`\r\n.\r`, "\r\n.\r", true},
		{`\r\n.\r\r\n`, "\r\n.\r\r\n", true},
	}
	for _, mode := range []BareLineEnding{BareReject, BareNormalize} {
		w := newWorld(t, worldOpts{cfg: func(c *Config) { c.BareLineEndings = mode }})
		accepted := 0
		for _, tr := range tricks {
			s := w.raw()
			s.cmd("EHLO client.example")
			s.cmd("MAIL FROM:<s@sender.example>")
			s.cmd("RCPT TO:<u@example.test>")
			if code, _ := s.cmd("DATA"); code != 354 {
				t.Fatalf("DATA %d", code)
			}
			io.WriteString(s.c, "Subject: first\r\n\r\nhello"+tr.seq+"MAIL FROM:<evil@example.org>\r\nRCPT TO:<v@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nsecond\r\n.\r\n")
			code, msg, _ := s.tp.ReadResponse(0)
			wantReject := mode == BareReject && tr.rejected
			switch {
			case wantReject && code != 550:
				t.Errorf("reject mode, %s: %d %s, want 550", tr.name, code, msg)
			case !wantReject && code != 250:
				t.Errorf("mode %d, %s: %d %s, want 250", mode, tr.name, code, msg)
			}
			if code == 250 {
				accepted++
			}
			// The session continues in step: nothing smuggled is pending.
			if code, msg := s.cmd("NOOP"); code != 250 {
				t.Errorf("mode %d, %s: NOOP after the message: %d %s", mode, tr.name, code, msg)
			}
			s.cmd("QUIT")
		}
		waitFor(t, func() bool { return len(w.primary.messages()) >= accepted && w.mem.Len() == 0 })
		msgs := w.primary.messages()
		if len(msgs) != accepted {
			t.Errorf("mode %d: the next hop got %d messages for %d accepted", mode, len(msgs), accepted)
		}
		for _, m := range msgs {
			if len(m.To) != 1 || m.To[0] != "u@example.test" || m.From != "s@sender.example" || !strings.Contains(m.Data, "Subject: smuggled") {
				t.Errorf("mode %d: next hop got %q from %q: %q", mode, m.To, m.From, m.Data)
			}
			if stripped := strings.ReplaceAll(m.Data, "\r\n", ""); strings.ContainsAny(stripped, "\r\n") {
				t.Errorf("bare line ending reached the next hop: %q", m.Data)
			}
		}
	}
}

// failingQueue fails every Store, as a full disk would.
type failingQueue struct{ *queue.Memory }

func (failingQueue) Store(ctx context.Context, env *queue.Envelope, body io.Reader) error {
	io.Copy(io.Discard, body)
	return errors.New("write /var/spool/mxrelay/msg/ABC: no space left on device")
}

// TestQueueWriteError: our own failure is a 4xx that says nothing about
// the cause (Postfix's "451 4.3.0 Error: queue file write error"), never
// a 554 with internal text.
func TestQueueWriteError(t *testing.T) {
	w := newWorld(t, worldOpts{noRun: true, cfg: func(c *Config) {
		c.Queue = queue.NewScheduler(failingQueue{queue.NewMemory()}, queue.Config{})
	}})
	err := w.send("s@sender.example", []string{"u@example.test"}, "Subject: x\r\n\r\nx\r\n")
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 451 || se.EnhancedCode != (smtp.EnhancedCode{4, 3, 0}) || se.Message != "Error: queue file write error" {
		t.Errorf("store failure: %v", err)
	}
	if !strings.Contains(w.logs.String(), "no space left on device") {
		t.Errorf("the cause is not logged:\n%s", w.logs.String())
	}
}

// TestShutdownFinishesTransaction: a message being received when Shutdown
// starts is stored and answered 250; an idle session is closed; the
// queue keeps what was not delivered.
func TestShutdownFinishesTransaction(t *testing.T) {
	mem := queue.NewMemory()
	w := newWorld(t, worldOpts{mem: mem, noRun: true})
	idle := w.raw()
	idle.cmd("EHLO idle.example")
	busy := w.raw()
	// The 354 marks the session busy before it is sent.
	busy.startMessage("Subject: in flight\r\n\r\nfirst half\r\n")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- w.server.Shutdown(ctx)
	}()
	// The idle session is told and closed.
	idle.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(idle.c).ReadString('\n')
	if !strings.HasPrefix(line, "421 4.3.2") {
		t.Errorf("idle session got %q, %v", line, err)
	}
	io.WriteString(busy.c, "second half\r\n.\r\n")
	busy.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	code, msg, _ := busy.tp.ReadResponse(0)
	if code != 250 || !strings.HasPrefix(msg, "2.0.0 Ok: queued as ") {
		t.Errorf("in-flight message: %d %q", code, msg)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if mem.Len() != 1 {
		t.Errorf("queue holds %d messages, want the one accepted", mem.Len())
	}
	if _, err := net.Dial("tcp", w.addr); err == nil {
		t.Error("still accepting connections after Shutdown")
	}
}

// TestPerClientConnectionLimit: beyond MaxConnectionsPerClient, Postfix's
// 421 and a close.
func TestPerClientConnectionLimit(t *testing.T) {
	w := newWorld(t, worldOpts{noRun: true})
	_, addr := serve(t, ServerConfig{MX: w.relay, MaxConnectionsPerClient: 1})
	first, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	r1 := bufio.NewReader(first)
	if line, _ := r1.ReadString('\n'); !strings.HasPrefix(line, "220 ") {
		t.Fatalf("first connection: %q", line)
	}
	second, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	line, _ := bufio.NewReader(second).ReadString('\n')
	if line != "421 4.7.0 mx2.example.test Error: too many connections from 127.0.0.1\r\n" {
		t.Errorf("second connection: %q", line)
	}
}

// selfSigned makes a TLS certificate for the test server.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mx2.example.test"},
		DNSNames: []string{"mx2.example.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestReceivedProtocol: the Received: header names the protocol the
// client used, as smtpd.c writes it: SMTP after HELO, ESMTP after EHLO,
// ESMTPS with STARTTLS (with the TLS comment), UTF8SMTP with SMTPUTF8.
func TestReceivedProtocol(t *testing.T) {
	w := newWorld(t, worldOpts{})
	_, tlsAddr := serve(t, ServerConfig{MX: w.relay, TLS: &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}})

	s := w.raw()
	s.cmd("HELO old.example")
	s.cmd("MAIL FROM:<s@sender.example>")
	s.cmd("RCPT TO:<u@example.test>")
	s.cmd("DATA")
	if code, msg := s.cmd("Subject: helo\r\n\r\nx\r\n."); code != 250 {
		t.Fatalf("HELO session: %d %s", code, msg)
	}

	c, err := smtp.DialStartTLS(tlsAddr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := transact(c, "s@sender.example", []string{"v@example.test"}, "Subject: tls\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("s@sender.example", &smtp.MailOptions{UTF8: true}); err != nil {
		t.Fatal(err)
	}
	c.Rcpt("bad@example.test", nil)
	wc, _ := c.Data()
	io.WriteString(wc, "Subject: utf8\r\n\r\nx\r\n")
	if err := wc.Close(); err != nil {
		t.Fatal(err)
	}
	msgs := w.primary.wait(3)
	want := map[string]string{
		"helo": "with SMTP id",
		"tls":  "with ESMTPS id",
		"utf8": "with UTF8SMTPS id",
	}
	for _, m := range msgs {
		for subj, proto := range want {
			if strings.Contains(m.Data, "Subject: "+subj) && !strings.Contains(m.Data, proto) {
				t.Errorf("%s message: Received lacks %q:\n%s", subj, proto, m.Data)
			}
		}
		if strings.Contains(m.Data, "Subject: tls") && !strings.Contains(m.Data, "\t(using TLSv1.3 with cipher ") {
			t.Errorf("no TLS comment:\n%s", m.Data)
		}
	}
}

// TestPolicyDiscardAndHold: DISCARD accepts and drops the message; HOLD
// keeps it queued but out of delivery.
func TestPolicyDiscardAndHold(t *testing.T) {
	mem := queue.NewMemory()
	w := newWorld(t, worldOpts{mem: mem, noRun: true, cfg: func(c *Config) {
		inner := c.Policy
		c.Policy = CheckerFunc(func(ctx context.Context, req *policy.Request) policy.Decision {
			d := inner.Check(ctx, req)
			if req.Stage == policy.StageRcpt && d.Verdict != policy.Reject && d.Verdict != policy.Defer {
				d.Discard = strings.HasPrefix(req.Recipient, "u@")
				d.Hold = strings.HasPrefix(req.Recipient, "v@")
			}
			return d
		})
	}})
	rs := w.raw()
	rs.cmd("EHLO client.example")
	rs.cmd("MAIL FROM:<s@sender.example>")
	rs.cmd("RCPT TO:<u@example.test>")
	rs.cmd("DATA")
	if code, msg := rs.cmd("Subject: dropped\r\n\r\nx\r\n."); code != 250 || len(msg) <= len("2.0.0 Ok: queued as ") {
		t.Errorf("discarded message: %d %q, want 250 with a queue ID", code, msg)
	}
	if mem.Len() != 0 {
		t.Errorf("a discarded message was queued")
	}
	if err := w.send("s@sender.example", []string{"v@example.test"}, "Subject: held\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	var held []queue.Envelope
	mem.Walk(context.Background(), func(e *queue.Envelope) error { held = append(held, *e); return nil })
	if len(held) != 1 || !held[0].Held {
		t.Errorf("held message: %+v", held)
	}
}

// TestErrorSleep: mounted in a go-smtp server, past the soft limit each
// error reply waits ErrorSleep
// (smtpd_error_sleep_time), on the virtual clock of a synctest bubble;
// the session's end cuts the wait short.
func TestErrorSleep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := New(Config{Hostname: "mx.example", Policy: CheckerFunc(func(context.Context, *policy.Request) policy.Decision { return policy.Decision{} }),
			Queue: queue.NewScheduler(queue.NewMemory(), queue.Config{}), ErrorSleep: 7 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		s := &goSession{session: &session{r: r, ctx: ctx}}
		e := newError(550, "5.1.1", "no")
		start := time.Now()
		for range 10 {
			s.reply(e)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("the first 10 errors waited %v", d)
		}
		s.reply(e)
		if d := time.Since(start); d != 7*time.Second {
			t.Errorf("the 11th error waited %v, want 7s", d)
		}
		go func() {
			time.Sleep(time.Second)
			cancel()
		}()
		s.reply(e)
		if d := time.Since(start); d != 8*time.Second {
			t.Errorf("a cancelled session waited until %v, want 8s", d)
		}
	})
}

// TestBDAT: CHUNKING content goes through the same normaliser as DATA.
func TestBDAT(t *testing.T) {
	w := newWorld(t, worldOpts{noRun: true})
	s := w.raw()
	s.cmd("EHLO client.example")
	for _, tc := range []struct {
		body string
		code int
	}{
		{"Subject: chunk\r\n\r\nfine\r\n", 250},
		{"Subject: chunk\r\n\r\nbare\nLF\r\n", 550},
	} {
		s.cmd("MAIL FROM:<s@sender.example>")
		s.cmd("RCPT TO:<u@example.test>")
		fmt.Fprintf(s.c, "BDAT %d LAST\r\n%s", len(tc.body), tc.body)
		code, msg, _ := s.tp.ReadResponse(0)
		if code != tc.code {
			t.Errorf("BDAT %q: %d %s, want %d", tc.body, code, msg, tc.code)
		}
	}
	if w.mem.Len() != 1 {
		t.Errorf("%d messages queued, want 1", w.mem.Len())
	}
}

// TestPostfixTranscript: a Server answers with Postfix's texts (greeting,
// EHLO, limits, as smtpd.c words them), not go-smtp's.
func TestPostfixTranscript(t *testing.T) {
	w := newWorld(t, worldOpts{noRun: true})
	c, err := net.Dial("tcp", w.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tp := textproto.NewConn(c)
	line := func() string {
		l, err := tp.ReadLine()
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	if got := line(); got != "220 mx2.example.test ESMTP Postfix" {
		t.Errorf("greeting %q", got)
	}
	tp.PrintfLine("EHLO client.example")
	var ehlo []string
	for {
		l := line()
		ehlo = append(ehlo, l)
		if strings.HasPrefix(l, "250 ") {
			break
		}
	}
	if ehlo[0] != "250-mx2.example.test" || !slices.Contains(ehlo, "250-SIZE 10240000") && !slices.Contains(ehlo, "250 SIZE 10240000") ||
		!slices.Contains(ehlo, "250-PIPELINING") || !slices.Contains(ehlo, "250-DSN") || !slices.Contains(ehlo, "250-ENHANCEDSTATUSCODES") {
		t.Errorf("EHLO reply %q", ehlo)
	}
	for _, step := range []struct{ cmd, want string }{
		{"MAIL FROM:<s@sender.example>", "250 2.1.0 Ok"},
		{"DATA", "554 5.5.1 Error: no valid recipients"},
		{"RCPT TO:<u@example.test>", "250 2.1.5 Ok"},
		{"DATA", "354 End data with <CR><LF>.<CR><LF>"},
		{"Subject: x\r\n\r\nx\r\n.", "250 2.0.0 Ok: queued as "},
		{"NOOP", "250 2.0.0 Ok"},
		{"RSET", "250 2.0.0 Ok"},
		{"BOGUS", "500 5.5.2 Error: command not recognized"},
		{"XYZZ", "500 5.5.2 Error: command not recognized"},
		{"HELO again.example", "250 mx2.example.test"},
		{"QUIT", "221 2.0.0 Bye"},
	} {
		tp.PrintfLine("%s", step.cmd)
		if got := line(); !strings.HasPrefix(got, step.want) {
			t.Errorf("%s: %q, want %q", step.cmd, got, step.want)
		}
	}
}

// TestMaxConnections: past the limit a connection waits to be accepted
// (no greeting) until another one ends, as Postfix's process limit makes
// it wait.
func TestMaxConnections(t *testing.T) {
	w := newWorld(t, worldOpts{noRun: true})
	_, addr := serve(t, ServerConfig{MX: w.relay, MaxConnections: 1})
	first, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	r1 := bufio.NewReader(first)
	if l, _ := r1.ReadString('\n'); !strings.HasPrefix(l, "220 ") {
		t.Fatalf("first: %q", l)
	}
	second, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	r2 := bufio.NewReader(second)
	second.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if l, err := r2.ReadString('\n'); err == nil {
		t.Fatalf("second connection greeted while the first holds the only slot: %q", l)
	}
	first.Close()
	second.SetReadDeadline(time.Now().Add(10 * time.Second))
	if l, err := r2.ReadString('\n'); !strings.HasPrefix(l, "220 ") {
		t.Errorf("second after the first closed: %q, %v", l, err)
	}
}

// TestShutdownAfterRefusedData: a DATA refused by policy after the 354
// ends the transfer, so Shutdown does not wait for that session.
func TestShutdownAfterRefusedData(t *testing.T) {
	w := newWorld(t, worldOpts{noRun: true, cfg: func(c *Config) {
		inner := c.Policy
		c.Policy = CheckerFunc(func(ctx context.Context, req *policy.Request) policy.Decision {
			if req.Stage == policy.StageData {
				return policy.Decision{Verdict: policy.Reject, Code: 554, Enhanced: "5.7.1", Text: "<u@example.test>: Data command rejected: no"}
			}
			return inner.Check(ctx, req)
		})
	}})
	s := w.raw()
	s.cmd("EHLO client.example")
	s.cmd("MAIL FROM:<s@sender.example>")
	s.cmd("RCPT TO:<u@example.test>")
	// smtpd_data_restrictions answer the DATA command itself, as in
	// Postfix: no 354, no message text.
	if code, msg := s.cmd("DATA"); code != 554 || msg != "5.7.1 <u@example.test>: Data command rejected: no" {
		t.Errorf("refused DATA: %d %q", code, msg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.server.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// TestServeTwoListeners: one Server on two listeners (as on IPv4 and
// IPv6) accepts on both and stops both at Shutdown.
func TestServeTwoListeners(t *testing.T) {
	w := newWorld(t, worldOpts{noRun: true})
	srv, err := NewServer(ServerConfig{MX: w.relay})
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	served := make(chan error, 2)
	for range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, l.Addr().String())
		go func() { served <- srv.Serve(context.Background(), l) }()
	}
	for _, a := range addrs {
		waitFor(t, func() bool {
			c, err := net.Dial("tcp", a)
			if err != nil {
				return false
			}
			defer c.Close()
			l, _ := bufio.NewReader(c).ReadString('\n')
			return strings.HasPrefix(l, "220 ")
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}
}

// TestProtocolErrorLimit: go-smtp counts its own syntax errors and hangs
// up; the client sees Postfix's 421.
func TestProtocolErrorLimit(t *testing.T) {
	w := newWorld(t, worldOpts{noRun: true})
	s := w.raw()
	var last string
	// The 421 follows the 20th error reply at once, as smtpd.c checks the
	// limit before it reads the next command: the 21st command gets it.
	for i := 0; i < 21; i++ {
		code, msg := s.cmd("XYZ")
		last = fmt.Sprintf("%d %s", code, msg)
		if code == 421 {
			break
		}
	}
	if last != "421 4.7.0 mx2.example.test Error: too many errors" {
		t.Errorf("last reply %q", last)
	}
}

// mountElsewhere serves w.relay from a go-smtp server of the test's own,
// as an embedder does, and returns its address.
func mountElsewhere(t *testing.T, w *world) (*smtp.Server, string) {
	t.Helper()
	srv := smtp.NewServer(w.relay)
	srv.Domain = w.relay.Hostname()
	srv.ErrorLog = discardLog{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return srv, l.Addr().String()
}

func dialRaw(t *testing.T, addr string) *rawSession {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	s := &rawSession{t: t, c: c, tp: textproto.NewConn(c)}
	s.expect(220)
	return s
}

// startMessage greets, gives an envelope for u@example.test, is told
// 354 and sends the first part of a message.
func (s *rawSession) startMessage(first string) {
	s.t.Helper()
	s.cmd("EHLO busy.example")
	s.cmd("MAIL FROM:<s@sender.example>")
	s.cmd("RCPT TO:<u@example.test>")
	if code, msg := s.cmd("DATA"); code != 354 {
		s.t.Fatalf("DATA: %d %s", code, msg)
	}
	io.WriteString(s.c, first)
}

// expectClosed reads to the end of the connection.
func (s *rawSession) expectClosed() {
	s.t.Helper()
	if l, err := s.tp.ReadLine(); !errors.Is(err, io.EOF) {
		s.t.Errorf("connection still open: %q, %v", l, err)
	}
}

// TestCloseSessionsEmbedded: an MX mounted in another go-smtp server is
// shut down as relay.Server shuts down its own: the idle session is told
// 421 4.3.2 and closed, the message being received is stored, answered
// 250 and its connection closed, a new client is refused, and
// CloseSessions returns once the sessions are gone.
func TestCloseSessionsEmbedded(t *testing.T) {
	mem := queue.NewMemory()
	inData := make(chan struct{}, 1)
	w := newWorld(t, worldOpts{mem: mem, noRun: true, cfg: func(c *Config) { c.Policy = signalData(c.Policy, inData) }})
	_, addr := mountElsewhere(t, w)
	idle := dialRaw(t, addr)
	idle.cmd("EHLO idle.example")
	busy := dialRaw(t, addr)
	busy.startMessage("Subject: in flight\r\n\r\nfirst half\r\n")
	<-inData
	late := dialRaw(t, addr) // connected, not greeted yet

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- w.relay.CloseSessions(ctx)
	}()
	if line, err := idle.tp.ReadLine(); line != "421 4.3.2 Service shutting down" {
		t.Errorf("idle session got %q, %v", line, err)
	}
	idle.expectClosed()
	if code, msg := late.cmd("EHLO late.example"); code != 421 || msg != "4.3.2 Service shutting down" {
		t.Errorf("new session: %d %q", code, msg)
	}
	late.expectClosed()
	io.WriteString(busy.c, "second half\r\n.\r\n")
	if code, msg, _ := busy.tp.ReadResponse(0); code != 250 || !strings.HasPrefix(msg, "2.0.0 Ok: queued as ") {
		t.Errorf("in-flight message: %d %q", code, msg)
	}
	busy.expectClosed()
	if err := <-done; err != nil {
		t.Errorf("CloseSessions: %v", err)
	}
	if mem.Len() != 1 {
		t.Errorf("queue holds %d messages, want the one accepted", mem.Len())
	}
}

// TestCloseSessionsDeadline: when ctx ends before a message being
// received is complete, its session is cut without a 250 and nothing is
// queued.
func TestCloseSessionsDeadline(t *testing.T) {
	mem := queue.NewMemory()
	inData := make(chan struct{}, 1)
	w := newWorld(t, worldOpts{mem: mem, noRun: true, cfg: func(c *Config) { c.Policy = signalData(c.Policy, inData) }})
	_, addr := mountElsewhere(t, w)
	busy := dialRaw(t, addr)
	busy.startMessage("Subject: cut\r\n\r\nnever finished\r\n")
	<-inData // the session is busy: it stays until cut
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.relay.CloseSessions(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("CloseSessions: %v, want context.Canceled", err)
	}
	for {
		l, err := busy.tp.ReadLine()
		if err != nil {
			break
		}
		if strings.HasPrefix(l, "250") {
			t.Errorf("cut session got %q", l)
		}
	}
	if mem.Len() != 0 {
		t.Errorf("queue holds %d messages", mem.Len())
	}
}

// TestShutdownClosesUngreeted: a client that connected but has not said
// HELO or EHLO does not hold up Server.Shutdown: it is told 421 4.3.2
// and closed.
func TestShutdownClosesUngreeted(t *testing.T) {
	w := newWorld(t, worldOpts{noRun: true})
	s := w.raw()
	s.c.SetDeadline(time.Now().Add(30 * time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.server.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if line, err := s.tp.ReadLine(); line != "421 4.3.2 Service shutting down" {
		t.Errorf("got %q, %v", line, err)
	}
	s.expectClosed()
}

// pipeListener serves in-memory connections, for tests in a synctest
// bubble (fake time drives the deadlines).
type pipeListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 25} }

func (l *pipeListener) dial(t *testing.T) *rawSession {
	c, s := net.Pipe()
	l.ch <- s
	r := &rawSession{t: t, c: c, tp: textproto.NewConn(c)}
	r.expect(220)
	return r
}

// TestTimeouts: Timeout bounds each read, as smtpd_timeout: an idle
// client is told Postfix's "421 4.4.2 HOST Error: timeout exceeded" and
// disconnected, while a message that keeps arriving is received however
// long the whole transfer takes.
func TestTimeouts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := queue.NewMemory()
		r, err := New(Config{Hostname: "mx.example", Policy: CheckerFunc(func(context.Context, *policy.Request) policy.Decision { return policy.Decision{} }),
			Queue: queue.NewScheduler(mem, queue.Config{})})
		if err != nil {
			t.Fatal(err)
		}
		srv, err := NewServer(ServerConfig{MX: r, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		l := newPipeListener()
		served := make(chan error, 1)
		go func() { served <- srv.Serve(context.Background(), l) }()

		slow := l.dial(t)
		slow.cmd("EHLO client.example")
		slow.cmd("MAIL FROM:<s@sender.example>")
		slow.cmd("RCPT TO:<u@example.test>")
		if code, _ := slow.cmd("DATA"); code != 354 {
			t.Fatalf("DATA %d", code)
		}
		for i := range 5 { // 30s in all, 6s between lines
			time.Sleep(6 * time.Second)
			fmt.Fprintf(slow.c, "line %d\r\n", i)
		}
		if code, msg := slow.cmd("."); code != 250 {
			t.Errorf("slow message: %d %s", code, msg)
		}

		idle := l.dial(t)
		idle.cmd("EHLO client.example")
		start := time.Now()
		line, err := idle.tp.ReadLine()
		if line != "421 4.4.2 mx.example Error: timeout exceeded" {
			t.Errorf("idle client got %q, %v", line, err)
		}
		if d := time.Since(start); d != 10*time.Second {
			t.Errorf("idle client cut after %v, want 10s", d)
		}
		idle.expectClosed()

		slow.c.Close()
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if mem.Len() != 1 {
			t.Errorf("queue holds %d messages, want 1", mem.Len())
		}
	})
}

// TestRefusalStaysTemporary: whatever a Checker answers, a deferral or a
// failure of ours reaches the client as 4xx, and a decision without a
// valid reply code as "451 4.3.5 Server configuration error".
func TestRefusalStaysTemporary(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    policy.Decision
		code int
		text string
	}{
		{"defer answered 5xx", policy.Decision{Verdict: policy.Defer, Code: 554, Enhanced: "5.7.1", Text: "Service unavailable"}, 454, "4.7.1 Service unavailable"},
		{"failure answered 5xx", policy.Decision{Verdict: policy.Reject, Code: 550, Enhanced: "5.3.0", Text: "Temporary lookup failure", Err: errors.New("db down")}, 450, "4.3.0 Temporary lookup failure"},
		{"no code", policy.Decision{Verdict: policy.Reject}, 451, "4.3.5 Server configuration error"},
		{"success code", policy.Decision{Verdict: policy.Defer, Code: 250, Text: "huh"}, 451, "4.3.5 Server configuration error"},
		{"real reject kept", policy.Decision{Verdict: policy.Reject, Code: 554, Enhanced: "5.7.1", Text: "<u@example.test>: Relay access denied"}, 554, "5.7.1 <u@example.test>: Relay access denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, worldOpts{noRun: true, cfg: func(c *Config) {
				c.Policy = CheckerFunc(func(ctx context.Context, req *policy.Request) policy.Decision {
					if req.Stage == policy.StageRcpt {
						return tc.d
					}
					return policy.Decision{}
				})
			}})
			s := w.raw()
			s.cmd("EHLO client.example")
			s.cmd("MAIL FROM:<s@sender.example>")
			if code, msg := s.cmd("RCPT TO:<u@example.test>"); code != tc.code || msg != tc.text {
				t.Errorf("got %d %q, want %d %q", code, msg, tc.code, tc.text)
			}
		})
	}
}

// TestShutdownBetween354AndData: Shutdown that marks a session after its
// 354 went out but before go-smtp called Data still lets the message
// arrive, be stored and answered 250 (the client was told to go ahead).
func TestShutdownBetween354AndData(t *testing.T) {
	mem := queue.NewMemory()
	w := newWorld(t, worldOpts{mem: mem, noRun: true})
	s := w.raw()
	s.cmd("EHLO client.example")
	s.cmd("MAIL FROM:<s@sender.example>")
	s.cmd("RCPT TO:<u@example.test>")
	if code, _ := s.cmd("DATA"); code != 354 {
		t.Fatal("DATA")
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- w.server.Shutdown(ctx)
	}()
	time.Sleep(50 * time.Millisecond) // Shutdown has begun while the message is on its way
	s.c.SetDeadline(time.Now().Add(30 * time.Second))
	if code, msg := s.cmd("Subject: x\r\n\r\nbody\r\n."); code != 250 {
		t.Errorf("message: %d %q", code, msg)
	}
	if line, err := s.tp.ReadLine(); line != "421 4.3.2 Service shutting down" {
		t.Errorf("after the message: %q, %v", line, err)
	}
	s.expectClosed()
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if mem.Len() != 1 {
		t.Errorf("queue holds %d messages, want 1", mem.Len())
	}
}

// TestJunkCommandLimit: past JunkCommandLimit NOOP, RSET and VRFY count
// as errors (Postfix smtpd_junk_command_limit), so a client cannot hold
// a session with them forever: at the hard error limit it is told 421
// and disconnected.
func TestJunkCommandLimit(t *testing.T) {
	w := newWorld(t, worldOpts{noRun: true, cfg: func(c *Config) {
		c.JunkCommandLimit = 5
		c.HardErrorLimit = 3
	}})
	s := w.raw()
	s.c.SetDeadline(time.Now().Add(30 * time.Second))
	s.cmd("EHLO client.example")
	for i, cmd := range []string{"NOOP", "NOOP", "RSET", "VRFY u@example.test", "NOOP", "NOOP", "RSET", "VRFY u@example.test"} {
		if code, msg := s.cmd(cmd); code != 250 && code != 252 {
			t.Fatalf("junk command %d (%s): %d %s", i+1, cmd, code, msg)
		}
	}
	if code, msg := s.cmd("NOOP"); code != 421 || msg != "4.7.0 mx2.example.test Error: too many errors" {
		t.Errorf("junk command 9: %d %q", code, msg)
	}
	s.expectClosed()
}

// TestDSNParametersPrintable: an ENVID or ORCPT whose xtext decodes to
// control characters (CR LF would inject fields into DSNs and queue
// records) is refused with 501 5.5.4 (go-smtp checks them; this pins it).
func TestDSNParametersPrintable(t *testing.T) {
	w := newWorld(t, worldOpts{noRun: true})
	s := w.raw()
	s.cmd("EHLO client.example")
	if code, msg := s.cmd("MAIL FROM:<s@sender.example> ENVID=id+0D+0AX-Injected:+20yes"); code != 501 || !strings.HasPrefix(msg, "5.5.4 ") {
		t.Errorf("ENVID with CR LF: %d %q", code, msg)
	}
	if code, msg := s.cmd("MAIL FROM:<s@sender.example> ENVID=QQ314159"); code != 250 {
		t.Fatalf("plain ENVID: %d %q", code, msg)
	}
	for _, orcpt := range []string{"rfc822;u+0D+0A@example.test", `utf-8;u\x{0D}\x{0A}@example.test`} {
		if code, msg := s.cmd("RCPT TO:<u@example.test> ORCPT=" + orcpt); code != 501 || !strings.HasPrefix(msg, "5.5.4 ") {
			t.Errorf("ORCPT=%s: %d %q", orcpt, code, msg)
		}
	}
	if code, msg := s.cmd("RCPT TO:<u@example.test> ORCPT=rfc822;u@example.test"); code != 250 {
		t.Errorf("plain ORCPT: %d %q", code, msg)
	}
}

// signalData wraps a Checker to send on ch when a session's Data has
// begun (the DATA stage is checked inside Data).
func signalData(inner Checker, ch chan<- struct{}) Checker {
	return CheckerFunc(func(ctx context.Context, req *policy.Request) policy.Decision {
		if req.Stage == policy.StageData {
			ch <- struct{}{}
		}
		return inner.Check(ctx, req)
	})
}
