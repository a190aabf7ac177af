package client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/mxrelay/mxrelay/internal/peertest"
)

// received is one message as the fake next hop stored it.
type received struct {
	From  string
	Mail  smtp.MailOptions
	Rcpts []string
	ROpts []smtp.RcptOptions
	Data  []byte
}

// backend is a go-smtp backend that records what it receives.
type backend struct {
	mu     sync.Mutex
	msgs   []received
	resets int
	// mail, when set, decides each MAIL (nil = accept).
	mail func(from string) error
	// rcpt, when set, decides each RCPT (nil = accept).
	rcpt func(to string) error
	// data, when set, runs instead of storing DATA (after reading it).
	data func(r io.Reader) error
	// lmtp, when set, gives the LMTP status per recipient.
	lmtp func(rcpt string) error
}

func (b *backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &bsession{b: b}, nil }

func (b *backend) messages() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.msgs...)
}

type bsession struct {
	b   *backend
	cur received
}

func (s *bsession) Reset() {
	s.cur = received{}
	s.b.mu.Lock()
	s.b.resets++
	s.b.mu.Unlock()
}
func (s *bsession) Logout() error { return nil }
func (s *bsession) Mail(from string, o *smtp.MailOptions) error {
	if s.b.mail != nil {
		if err := s.b.mail(from); err != nil {
			return err
		}
	}
	s.cur = received{From: from, Mail: *o}
	return nil
}
func (s *bsession) Rcpt(to string, o *smtp.RcptOptions) error {
	if s.b.rcpt != nil {
		if err := s.b.rcpt(to); err != nil {
			return err
		}
	}
	s.cur.Rcpts = append(s.cur.Rcpts, to)
	s.cur.ROpts = append(s.cur.ROpts, *o)
	return nil
}
func (s *bsession) Data(r io.Reader) error {
	if s.b.data != nil {
		return s.b.data(r)
	}
	d, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.Data = d
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, s.cur)
	s.b.mu.Unlock()
	return nil
}

func (s *bsession) LMTPData(r io.Reader, st smtp.StatusCollector) error {
	if err := s.Data(r); err != nil {
		return err
	}
	if s.b.lmtp != nil {
		for _, rc := range s.cur.Rcpts {
			st.SetStatus(rc, s.b.lmtp(rc))
		}
	}
	return nil
}

// fakeServer is a go-smtp server on 127.0.0.1:0 whose connections are
// counted and whose received bytes are recorded.
type fakeServer struct {
	*smtp.Server
	be    *backend
	addr  string
	mu    sync.Mutex
	conns int
	open  []*recConn
	raw   bytes.Buffer
	// hide lists EHLO keywords removed from the server's replies.
	hide []string
	done chan struct{}
}

func (f *fakeServer) accepted() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conns
}

func (f *fakeServer) rawString() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.raw.String()
}

type countingListener struct {
	net.Listener
	f *fakeServer
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	rc := &recConn{Conn: c, f: l.f}
	l.f.mu.Lock()
	l.f.conns++
	l.f.open = append(l.f.open, rc)
	l.f.mu.Unlock()
	return rc, nil
}

// dropConnections closes the server side of every connection, as a peer
// that times out idle clients does.
func (f *fakeServer) dropConnections() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.open {
		c.Conn.Close()
	}
	f.open = nil
}

type recConn struct {
	net.Conn
	f *fakeServer
}

func (c *recConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.f.mu.Lock()
	c.f.raw.Write(p[:n])
	c.f.mu.Unlock()
	return n, err
}

// hideKeywords removes EHLO keywords from the server's replies.
func (f *fakeServer) hideKeywords(kw ...string) {
	f.mu.Lock()
	f.hide = kw
	f.mu.Unlock()
}

func (c *recConn) Write(p []byte) (int, error) {
	c.f.mu.Lock()
	hide := c.f.hide
	c.f.mu.Unlock()
	if len(hide) == 0 {
		return c.Conn.Write(p)
	}
	q := p
	for _, kw := range hide {
		q = bytes.ReplaceAll(q, []byte("250-"+kw+"\r\n"), nil)
		q = bytes.ReplaceAll(q, []byte("250 "+kw+"\r\n"), []byte("250 X-HIDDEN\r\n"))
	}
	if _, err := c.Conn.Write(q); err != nil {
		return 0, err
	}
	return len(p), nil
}

func newFakeServer(t testing.TB, configure func(*smtp.Server, *backend)) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return newFakeServerOn(t, ln, configure)
}

// newFakeServerOn serves on ln (TCP, UNIX-domain or in-memory).
func newFakeServerOn(t testing.TB, ln net.Listener, configure func(*smtp.Server, *backend)) *fakeServer {
	t.Helper()
	be := &backend{}
	srv := smtp.NewServer(be)
	srv.Domain = "mx.test"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	f := &fakeServer{Server: srv, be: be, done: make(chan struct{})}
	if configure != nil {
		configure(srv, be)
	}
	f.addr = ln.Addr().String()
	go func() {
		defer close(f.done)
		_ = srv.Serve(&countingListener{Listener: ln, f: f})
	}()
	t.Cleanup(func() {
		srv.Close()
		<-f.done
	})
	return f
}

func (f *fakeServer) target() Target {
	return Target{Host: "mx.test", Address: f.addr, TLS: TLSNone}
}

// newClient returns a client with hostname relay.test closed at cleanup.
func newClient(t testing.TB, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{Hostname: "relay.test"}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// writeLog is a net.Conn wrapper on the client side that records each Write
// call separately, to observe pipelining.
type writeLog struct {
	mu     sync.Mutex
	writes []string
	dials  int
}

func (w *writeLog) dialer() Dialer {
	return DialerFunc(func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		w.mu.Lock()
		w.dials++
		w.mu.Unlock()
		return &loggedConn{Conn: c, w: w}, nil
	})
}

func (w *writeLog) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.writes...)
}

// writeWith returns the single write containing s, failing if none or more.
func (w *writeLog) writeWith(t *testing.T, s string) string {
	t.Helper()
	var found []string
	for _, x := range w.all() {
		if strings.Contains(x, s) {
			found = append(found, x)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d writes contain %q; writes: %q", len(found), s, w.all())
	}
	return found[0]
}

type loggedConn struct {
	net.Conn
	w *writeLog
}

func (c *loggedConn) Write(p []byte) (int, error) {
	c.w.mu.Lock()
	c.w.writes = append(c.w.writes, string(p))
	c.w.mu.Unlock()
	return c.Conn.Write(p)
}

func msg(from string, body string, rcpts ...string) *Message {
	m := &Message{From: from, Body: strings.NewReader(body), Size: int64(len(body))}
	for _, r := range rcpts {
		m.Recipients = append(m.Recipients, Recipient{Address: r})
	}
	return m
}

func asError(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not *Error", err, err)
	}
	return e
}

func wantStatus(t *testing.T, res *Result, want ...Status) {
	t.Helper()
	if len(res.Recipients) != len(want) {
		t.Fatalf("%d results, want %d", len(res.Recipients), len(want))
	}
	for i, w := range want {
		if got := res.Recipients[i].Status; got != w {
			t.Errorf("recipient %d (%s): status %v, want %v (err %v)", i, res.Recipients[i].Recipient, got, w, res.Recipients[i].Err)
		}
	}
}

// scriptServer is a minimal SMTP peer on 127.0.0.1:0 for behaviour go-smtp
// cannot produce (see peertest.Script).
func scriptServer(t *testing.T, greeting string, reply func(cmd string) string) string {
	t.Helper()
	return peertest.Script(t, greeting, reply)
}

// basicScript answers a plain SMTP dialogue; override picks replies first.
func basicScript(override func(cmd string) (string, bool)) func(string) string {
	return func(cmd string) string {
		if override != nil {
			if r, ok := override(cmd); ok {
				return r
			}
		}
		switch verb := strings.ToUpper(strings.SplitN(cmd, " ", 2)[0]); verb {
		case "EHLO":
			return "250-script.test\r\n250 8BITMIME\r\n"
		case "HELO", "MAIL", "RCPT", "RSET", "NOOP":
			return "250 2.0.0 Ok\r\n"
		case "DATA":
			return "354 go ahead\r\n"
		case ".":
			return "250 2.0.0 Ok: queued\r\n"
		case "QUIT":
			return ""
		}
		return "502 5.5.2 Error: command not recognized\r\n"
	}
}
