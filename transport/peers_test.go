package transport

import (
	"context"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/mxrelay/mxrelay/transport/client"
)

// The fake next hops of the delivery tests: go-smtp servers (and, for
// behaviour go-smtp cannot produce, scripted peers) on 127.0.0.1:0, reached
// through a dialer that maps the addresses DNS gives (127.0.x.y:25) to them.

// got is one message a peer accepted.
type got struct {
	From  string
	Rcpts []string
	Data  string
}

// peer is a go-smtp server that records messages; rcpt decides each RCPT.
type peer struct {
	addr string
	mu   sync.Mutex
	msgs []got
	seen []string // every RCPT address offered, accepted or not
	rcpt func(to string) error
	data func() error
	lmtp func(to string) error
}

func (p *peer) messages() []got {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]got(nil), p.msgs...)
}

func (p *peer) offered() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...)
}

func (p *peer) NewSession(*smtp.Conn) (smtp.Session, error) { return &peerSession{p: p}, nil }

type peerSession struct {
	p   *peer
	cur got
}

func (s *peerSession) Reset()        { s.cur = got{} }
func (s *peerSession) Logout() error { return nil }
func (s *peerSession) Mail(from string, _ *smtp.MailOptions) error {
	s.cur = got{From: from}
	return nil
}

func (s *peerSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.p.mu.Lock()
	s.p.seen = append(s.p.seen, to)
	s.p.mu.Unlock()
	if s.p.rcpt != nil {
		if err := s.p.rcpt(to); err != nil {
			return err
		}
	}
	s.cur.Rcpts = append(s.cur.Rcpts, to)
	return nil
}

func (s *peerSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.p.data != nil {
		if err := s.p.data(); err != nil {
			return err
		}
	}
	s.cur.Data = string(b)
	s.p.mu.Lock()
	s.p.msgs = append(s.p.msgs, s.cur)
	s.p.mu.Unlock()
	return nil
}

func (s *peerSession) LMTPData(r io.Reader, st smtp.StatusCollector) error {
	if err := s.Data(r); err != nil {
		return err
	}
	for _, rc := range s.cur.Rcpts {
		var err error
		if s.p.lmtp != nil {
			err = s.p.lmtp(rc)
		}
		st.SetStatus(rc, err)
	}
	return nil
}

func smtpErr(code int, enh smtp.EnhancedCode, text string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: text}
}

// startPeer serves p on ln.
func startPeer(t testing.TB, ln net.Listener, p *peer, lmtp bool) *peer {
	t.Helper()
	srv := smtp.NewServer(p)
	srv.Domain = "peer.test"
	srv.LMTP = lmtp
	srv.ErrorLog = log.New(io.Discard, "", 0)
	p.addr = ln.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return p
}

func newPeer(t testing.TB, p *peer) *peer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startPeer(t, ln, p, false)
}

// world maps the addresses DNS gives to the fake peers; any other address
// refuses the connection, like a dead host.
type world struct {
	mu    sync.Mutex
	to    map[string]string
	dials []string
}

func (w *world) route(from, to string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.to == nil {
		w.to = map[string]string{}
	}
	w.to[from] = to
}

func (w *world) dialed() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.dials...)
}

func (w *world) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	w.mu.Lock()
	w.dials = append(w.dials, addr)
	to, ok := w.to[addr]
	w.mu.Unlock()
	if network == "unix" {
		to, ok = addr, true
	}
	if !ok {
		return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
	}
	return (&net.Dialer{}).DialContext(ctx, network, to)
}

// newSender returns a client dialing through w.
func newSender(t testing.TB, w *world, mod func(*client.Config)) *client.Client {
	t.Helper()
	cfg := client.Config{Hostname: "relay.test", Dialer: w}
	if mod != nil {
		mod(&cfg)
	}
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func message(rcpts ...string) *client.Message {
	body := "Subject: test\r\n\r\nhello\r\n"
	m := &client.Message{From: "sender@src.test", Body: strings.NewReader(body), Size: int64(len(body))}
	for _, r := range rcpts {
		m.Recipients = append(m.Recipients, client.Recipient{Address: r})
	}
	return m
}
