package smtpd

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSession records what the engine hands over.
type fakeSession struct {
	mu       sync.Mutex
	log      []string
	client   Client // a copy, as of the last command
	messages []string
	cp       *Client // the engine's, read only in callbacks
}

func (f *fakeSession) snapshot() (Client, []string, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.client, append([]string(nil), f.log...), append([]string(nil), f.messages...)
}

func (f *fakeSession) add(s string) {
	f.mu.Lock()
	f.log = append(f.log, s)
	if f.cp != nil {
		f.client = *f.cp
	}
	f.mu.Unlock()
}

func (f *fakeSession) Hello(ctx context.Context, c *Client) *Reply {
	f.add("HELLO " + c.Helo)
	return nil
}
func (f *fakeSession) Mail(ctx context.Context, from string, p MailParams) *Reply {
	f.add("MAIL " + from)
	return nil
}
func (f *fakeSession) Rcpt(ctx context.Context, to string, p RcptParams) *Reply {
	f.add("RCPT " + to)
	if strings.HasPrefix(to, "bad@") {
		return reply(550, "5.1.1", "<"+to+">: Recipient address rejected: User unknown")
	}
	return nil
}
func (f *fakeSession) Data(ctx context.Context) *Reply { f.add("DATA"); return nil }
func (f *fakeSession) Message(ctx context.Context, r io.Reader) *Reply {
	b, err := io.ReadAll(r)
	if err != nil {
		return reply(451, "4.3.0", "Error: "+err.Error())
	}
	f.add("MESSAGE")
	f.mu.Lock()
	f.messages = append(f.messages, string(b))
	f.mu.Unlock()
	return reply(250, "2.0.0", "Ok: queued as 1234")
}
func (f *fakeSession) Reset(ctx context.Context) { f.add("RESET") }
func (f *fakeSession) Close()                    { f.add("CLOSE") }

// dialEngine starts a Server with a fakeSession on a pipe.
func dialEngine(t *testing.T, cfg Config) (*fakeSession, net.Conn, *bufio.Reader, context.CancelFunc) {
	t.Helper()
	fs := &fakeSession{}
	if cfg.Hostname == "" {
		cfg.Hostname = "mx.example.net"
	}
	cfg.ErrorSleep = -1
	s := NewServer(BackendFunc(func(ctx context.Context, c *Client) (Session, *Reply) { fs.cp = c; return fs, nil }), cfg)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		nc, err := l.Accept()
		if err != nil {
			return
		}
		s.ServeConn(ctx, nc, nil)
	}()
	nc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close(); cancel(); l.Close(); <-done })
	return fs, nc, bufio.NewReader(nc), cancel
}

// pipeServer serves one connection of s on loopback.
func pipeServer(t *testing.T, s *Server) (net.Conn, *bufio.Reader) {
	return pipeServerTCP(t, s, "")
}

// pipeServerTCP serves one connection of s on loopback; early is sent
// at once, before the greeting.
func pipeServerTCP(t *testing.T, s *Server, early string) (net.Conn, *bufio.Reader) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		nc, err := l.Accept()
		if err != nil {
			return
		}
		s.ServeConn(context.Background(), nc, nil)
	}()
	nc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if early != "" {
		io.WriteString(nc, early)
	}
	t.Cleanup(func() { nc.Close(); l.Close(); <-done })
	return nc, bufio.NewReader(nc)
}

// replies reads n replies (multi-line replies whole) and returns their
// last lines.
func replies(t *testing.T, r *bufio.Reader, n int) []string {
	t.Helper()
	var out []string
	for len(out) < n {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("after %q: %v", out, err)
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) >= 4 && line[3] == '-' {
			continue
		}
		out = append(out, line)
	}
	return out
}

func TestSessionFlow(t *testing.T) {
	fs, nc, r, _ := dialEngine(t, Config{SizeLimit: 1000})
	want := func(got []string, want ...string) {
		t.Helper()
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	want(replies(t, r, 1), "220 mx.example.net ESMTP")
	io.WriteString(nc, "MAIL FROM:<a@b.example>\r\n")
	want(replies(t, r, 1), "503 5.5.1 Error: send HELO/EHLO first")
	io.WriteString(nc, "ehlo client.example\r\n")
	want(replies(t, r, 1), "250 CHUNKING")
	io.WriteString(nc, "MAIL FROM: <a@b.example> SIZE=2000\r\nmail from:<a@b.example> BODY=8BITMIME SIZE=10\r\nRCPT TO:<bad@x.example>\r\nRCPT TO:<\"first last\"@x.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x+40y\r\nDATA\r\n")
	want(replies(t, r, 5), "552 5.3.4 Message size exceeds fixed limit", "250 2.1.0 Ok",
		"550 5.1.1 <bad@x.example>: Recipient address rejected: User unknown", "250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>")
	io.WriteString(nc, "Subject: x\r\n\r\n..dot\r\nbare\n.\nstill data\r\n.\r\nQUIT\r\n")
	want(replies(t, r, 2), "250 2.0.0 Ok: queued as 1234", "221 2.0.0 Bye")
	client, _, messages := fs.snapshot()
	if got := messages[0]; got != "Subject: x\r\n\r\n.dot\r\nbare\n.\nstill data\r\n" {
		t.Errorf("message %q", got)
	}
	if client.IllegalPipelining != "" {
		t.Errorf("pipelining after EHLO flagged: %s", client.IllegalPipelining)
	}
}

func TestIllegalPipelining(t *testing.T) {
	fs, nc, r, _ := dialEngine(t, Config{})
	replies(t, r, 1)
	io.WriteString(nc, "HELO client.example\r\nMAIL FROM:<a@b.example>\r\n")
	replies(t, r, 2)
	if client, _, _ := fs.snapshot(); client.IllegalPipelining != "HELO" {
		t.Errorf("IllegalPipelining = %q, want HELO", client.IllegalPipelining)
	}
}

func TestBDAT(t *testing.T) {
	fs, nc, r, _ := dialEngine(t, Config{})
	replies(t, r, 1)
	io.WriteString(nc, "EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 5\r\nHello")
	io.WriteString(nc, "BDAT 8 LAST\r\n, world\n")
	got := replies(t, r, 5)
	if got[3] != "250 2.0.0 Ok: 5 bytes" || got[4] != "250 2.0.0 Ok: 13 bytes queued as 1234" {
		t.Errorf("replies %q", got)
	}
	if _, _, messages := fs.snapshot(); messages[0] != "Hello, world\n" {
		t.Errorf("message %q", messages)
	}
}

func TestErrorLimits(t *testing.T) {
	_, nc, r, _ := dialEngine(t, Config{HardErrorLimit: 3})
	replies(t, r, 1)
	io.WriteString(nc, "BOGUS\r\nBOGUS\r\nBOGUS\r\n")
	got := replies(t, r, 4)
	if got[3] != "421 4.7.0 mx.example.net Error: too many errors" {
		t.Errorf("replies %q", got)
	}
	if _, err := r.ReadString('\n'); err != io.EOF {
		t.Errorf("connection not closed: %v", err)
	}
}

// TestStartTLSInjection: commands sent in clear text with STARTTLS are
// discarded, never run in the encrypted session (CVE-2011-0411).
func TestStartTLSInjection(t *testing.T) {
	cert := selfSigned(t)
	fs, nc, r, _ := dialEngine(t, Config{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	replies(t, r, 1)
	io.WriteString(nc, "EHLO c\r\n")
	replies(t, r, 1)
	io.WriteString(nc, "STARTTLS\r\nMAIL FROM:<injected@evil.example>\r\n")
	if got := replies(t, r, 1); got[0] != "220 2.0.0 Ready to start TLS" {
		t.Fatalf("STARTTLS: %q", got)
	}
	tc := tls.Client(nc, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	tr := bufio.NewReader(tc)
	io.WriteString(tc, "MAIL FROM:<a@b>\r\nEHLO c\r\n")
	got := replies(t, tr, 2)
	if got[0] != "503 5.5.1 Error: send HELO/EHLO first" || got[1] != "250 CHUNKING" {
		t.Errorf("after the handshake: %q", got)
	}
	client, log, _ := fs.snapshot()
	for _, l := range log {
		if strings.Contains(l, "injected") {
			t.Errorf("the injected command ran: %q", log)
		}
	}
	if client.TLS == nil {
		t.Error("Client.TLS not set")
	}
}

func TestShutdownIdle(t *testing.T) {
	_, _, r, cancel := dialEngine(t, Config{})
	replies(t, r, 1)
	cancel()
	if got := replies(t, r, 1); got[0] != "421 4.3.2 Service shutting down" {
		t.Errorf("got %q", got)
	}
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mx.example.net"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"mx.example.net"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
