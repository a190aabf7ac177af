package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	netsmtp "net/smtp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/queue"
)

// message is what the fake internal server received.
type message struct {
	from string
	to   []string
	data string
}

// startNextHop runs a go-smtp server on loopback standing in for the
// internal mail server; what it receives comes out of the channel.
func startNextHop(t testing.TB) (addr string, got <-chan message) {
	t.Helper()
	ch := make(chan message, 16)
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &hopSession{ch: ch}, nil
	}))
	srv.Domain = "internal.example.com"
	srv.EnableDSN = true
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String(), ch
}

type hopSession struct {
	ch chan<- message
	m  message
}

func (s *hopSession) Mail(from string, _ *smtp.MailOptions) error {
	s.m = message{from: from}
	return nil
}

func (s *hopSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.m.to = append(s.m.to, to)
	return nil
}

func (s *hopSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.m.data = string(b)
	s.ch <- s.m
	return nil
}

func (s *hopSession) Reset()        {}
func (s *hopSession) Logout() error { return nil }

// fakeDirectory is the HTTP directory: alice@ and bob@example.com exist;
// asking about broken@ gets a 500, about hang@ no answer at all until the
// client gives up. It records the keys it was asked.
type fakeDirectory struct {
	*httptest.Server
	mu    sync.Mutex
	asked []string
}

func startDirectory(t testing.TB) *fakeDirectory {
	t.Helper()
	d := &fakeDirectory{}
	known := directoryHandler([]string{"alice@example.com", "bob@example.com"})
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.URL.Query().Get("address")
		d.mu.Lock()
		d.asked = append(d.asked, key)
		d.mu.Unlock()
		switch key {
		case "broken@example.com":
			http.Error(w, "database is down", http.StatusInternalServerError)
		case "hang@example.com":
			<-r.Context().Done()
		default:
			known.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(d.Close)
	return d
}

func (d *fakeDirectory) wasAsked(key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Contains(d.asked, key)
}

// startGateway starts a gateway for example.com on loopback, asking dir
// and relaying to hop.
func startGateway(t testing.TB, dir *fakeDirectory, hop string, q queue.Queue) *Gateway {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g, err := Start(t.Context(), Config{
		Hostname:           "gw.example.com",
		Domains:            "example.com",
		RecipientDelimiter: "+",
		Recipients:         &Directory{URL: dir.URL + "/recipients", Client: dir.Client(), Timeout: 2 * time.Second},
		NextHop:            "[127.0.0.1]:" + strings.Split(hop, ":")[1],
		Queue:              q,
		DNS:                []string{"127.0.0.1:1"}, // no DNS is needed: fail fast if asked
	}, l)
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	return g
}

// shutdown stops g; it must not need its whole context to do so.
func shutdown(t testing.TB, g *Gateway) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := g.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// startTransaction connects to addr and sends EHLO and MAIL FROM, as a
// client from the Internet would. The connection is closed at the end of
// the test.
func startTransaction(t testing.TB, addr string) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.example"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("sender@elsewhere.example", nil); err != nil {
		t.Fatal(err)
	}
	return c
}

// rcptReply sends RCPT TO and returns the reply as "CODE X.Y.Z text", or
// "250" when accepted.
func rcptReply(t *testing.T, c *smtp.Client, rcpt string) string {
	t.Helper()
	err := c.Rcpt(rcpt, nil)
	if err == nil {
		return "250"
	}
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		t.Fatalf("RCPT TO:<%s>: %v", rcpt, err)
	}
	return fmt.Sprintf("%d %d.%d.%d %s", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], se.Message)
}

func waitMessage(t *testing.T, got <-chan message) message {
	t.Helper()
	select {
	case m := <-got:
		return m
	case <-time.After(60 * time.Second):
		t.Fatal("the internal server received nothing")
		return message{}
	}
}

// TestGatewayEndToEnd runs the gateway on loopback with an HTTP directory
// and an internal server, and sends it mail: known recipients are
// accepted and their mail arrives, unknown ones are refused at RCPT with
// Postfix's reply, directory failures defer with 451 4.3.0, and nobody can
// relay through it.
func TestGatewayEndToEnd(t *testing.T) {
	hop, got := startNextHop(t)
	dir := startDirectory(t)
	g := startGateway(t, dir, hop, queue.NewMemory())
	defer shutdown(t, g)

	c := startTransaction(t, g.Addr().String())
	for _, tc := range []struct{ rcpt, want string }{
		{"alice@example.com", "250"},
		{"Bob+news@example.com", "250"},
		{"carol@example.com", "550 5.1.1 <carol@example.com>: Recipient address rejected: User unknown in relay recipient table"},
		{"broken@example.com", "451 4.3.0 <broken@example.com>: Temporary lookup failure"},
		{"hang@example.com", "451 4.3.0 <hang@example.com>: Temporary lookup failure"},
		{"victim@elsewhere.example", "554 5.7.1 <victim@elsewhere.example>: Relay access denied"},
		{"victim%elsewhere.example@example.com", "554 5.7.1 <victim%elsewhere.example@example.com>: Relay access denied"},
	} {
		if got := rcptReply(t, c, tc.rcpt); got != tc.want {
			t.Errorf("RCPT TO:<%s>\n got %s\nwant %s", tc.rcpt, got, tc.want)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "From: sender@elsewhere.example\r\nSubject: gateway test\r\n\r\nHello from the outside.\r\n")
	if err := w.Close(); err != nil {
		t.Fatalf("end of DATA: %v", err)
	}
	c.Quit()

	m := waitMessage(t, got)
	slices.Sort(m.to)
	if m.from != "sender@elsewhere.example" || !slices.Equal(m.to, []string{"Bob+news@example.com", "alice@example.com"}) {
		t.Errorf("internal server got MAIL FROM:<%s> RCPT TO:%v, want sender@elsewhere.example to alice@ and Bob+news@example.com", m.from, m.to)
	}
	for _, want := range []string{"Subject: gateway test\r\n", "\r\n\r\nHello from the outside.\r\n", "by gw.example.com (Postfix) with ESMTP id "} {
		if !strings.Contains(m.data, want) {
			t.Errorf("message lacks %q:\n%s", want, m.data)
		}
	}
	if !strings.HasPrefix(m.data, "Received: from client.example (") {
		t.Errorf("message does not start with the gateway's Received: header:\n%s", m.data)
	}
	// The extension was looked up as received first, then without it
	// (Postfix's relay_recipient_maps key order), folded to lower case
	// as Postfix folds table keys.
	if !dir.wasAsked("bob+news@example.com") || !dir.wasAsked("bob@example.com") {
		t.Errorf("directory was asked %v", dir.asked)
	}

	// With the directory down, nothing is refused for good: every
	// recipient of our domains is deferred.
	dir.Close()
	c2 := startTransaction(t, g.Addr().String())
	if got, want := rcptReply(t, c2, "alice@example.com"), "451 4.3.0 <alice@example.com>: Temporary lookup failure"; got != want {
		t.Errorf("directory down: got %s, want %s", got, want)
	}
}

// TestShutdown: an idle client is told 421 4.3.2 and disconnected at
// once, a client sending a message gets it accepted first, and Shutdown
// does not wait for either to quit.
func TestShutdown(t *testing.T) {
	hop, got := startNextHop(t)
	dir := startDirectory(t)
	q := queue.NewMemory()
	g := startGateway(t, dir, hop, q)

	idle := startTransaction(t, g.Addr().String())
	sending := startTransaction(t, g.Addr().String())
	if r := rcptReply(t, sending, "alice@example.com"); r != "250" {
		t.Fatalf("RCPT: %s", r)
	}
	w, err := sending.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "Subject: in flight\r\n\r\nFirst half,\r\n")
	// go-smtp calls the session's Data just after sending 354: wait
	// until it has.
	waitFor(t, "the session to be in DATA", func() bool {
		for c := range g.conns.conns {
			if c.busy {
				return true
			}
		}
		return false
	}, &g.conns.mu)

	done := make(chan struct{})
	go func() {
		defer close(done)
		shutdown(t, g)
	}()
	// Wait until Shutdown has dealt with the idle connections.
	waitFor(t, "Shutdown to begin closing connections", func() bool { return g.conns.closing }, &g.conns.mu)
	io.WriteString(w, "second half.\r\n")
	if err := w.Close(); err != nil {
		t.Errorf("the message being sent when Shutdown began was refused: %v", err)
	}
	if r := rcptReply(t, idle, "bob@example.com"); !strings.HasPrefix(r, "421 4.3.2 Service shutting down") {
		t.Errorf("idle client: %s, want 421 4.3.2", r)
	}
	<-done

	// The message was accepted, so it is delivered or still queued.
	select {
	case m := <-got:
		if !strings.Contains(m.data, "First half,\r\nsecond half.") {
			t.Errorf("delivered:\n%s", m.data)
		}
	default:
		if q.Len() != 1 {
			t.Errorf("the accepted message is neither delivered nor queued (queue: %d)", q.Len())
		}
	}
}

// waitFor polls cond, holding mu, until it holds; it fails the test if
// that takes more than 30 seconds (a bound for a broken build, not a
// timing assertion).
func waitFor(t *testing.T, what string, cond func() bool, mu *sync.Mutex) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		ok := cond()
		mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

// TestDirectory checks the table on its own: every answer that is not a
// clear yes or no is a temporary lookup error, never "not found".
func TestDirectory(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch a := r.URL.Query().Get("address"); a {
		case "gone@example.com":
			http.NotFound(w, r)
		case "teapot@example.com":
			w.WriteHeader(http.StatusTeapot)
		case "garbage@example.com":
			io.WriteString(w, "<html>login</html>")
		case "nofield@example.com":
			io.WriteString(w, `{"found": true}`)
		case "huge@example.com":
			io.WriteString(w, `{"exists": true, "pad": "`+strings.Repeat("x", 70000)+`"}`)
		case "slow@example.com":
			<-r.Context().Done()
		default:
			fmt.Fprintf(w, `{"exists": %t}`, a == "alice@example.com" || a == `"odd&user=x"@example.com`)
		}
	}))
	defer srv.Close()
	refused := httptest.NewServer(http.NotFoundHandler())
	refused.Close()

	d := &Directory{URL: srv.URL + "/recipients", Client: srv.Client(), Timeout: time.Second}
	for _, tc := range []struct {
		key   string
		found bool
		temp  bool
	}{
		{"alice@example.com", true, false},
		{"Alice@Example.COM", true, false},        // folded as Postfix folds table keys
		{`"odd&user=x"@example.com`, true, false}, // the key arrives intact
		{"bob@example.com", false, false},
		{"gone@example.com", false, false},
		{"teapot@example.com", false, true},
		{"garbage@example.com", false, true},
		{"nofield@example.com", false, true},
		{"huge@example.com", false, true},
		{"slow@example.com", false, true},
	} {
		v, found, err := d.Lookup(t.Context(), tc.key)
		if found != tc.found || (found && v != "OK") {
			t.Errorf("%s: found %v value %q, want found %v", tc.key, found, v, tc.found)
		}
		if tc.temp != (err != nil) || (err != nil && lookup.KindOf(err) != lookup.Temporary) {
			t.Errorf("%s: error %v (kind %v), want a temporary error: %v", tc.key, err, lookup.KindOf(err), tc.temp)
		}
		var le *lookup.Error
		if err != nil && (!errors.As(err, &le) || le.Key != tc.key || le.Table != "http:"+d.URL) {
			t.Errorf("%s: error %#v does not name the table and key", tc.key, err)
		}
	}

	down := &Directory{URL: refused.URL, Timeout: time.Second}
	if _, _, err := down.Lookup(t.Context(), "alice@example.com"); lookup.KindOf(err) != lookup.Temporary {
		t.Errorf("unreachable directory: %v, want a temporary error", err)
	}
	bad := &Directory{URL: "http://[::1", Timeout: time.Second}
	if _, _, err := bad.Lookup(t.Context(), "alice@example.com"); lookup.KindOf(err) != lookup.Temporary {
		t.Errorf("bad URL: %v, want a temporary error", err)
	}
}

// TestProgram runs the program as a user would: flags, an on-disk queue,
// mail sent with net/smtp, SIGTERM (context cancellation) shuts it down.
func TestProgram(t *testing.T) {
	hop, got := startNextHop(t)
	dir := startDirectory(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ready := make(chan string, 1)
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	queueDir := t.TempDir()
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-domains", "example.com", "-hostname", "gw.example.com",
			"-directory", dir.URL + "/recipients", "-nexthop", "[127.0.0.1]:" + strings.Split(hop, ":")[1],
			"-queue", queueDir, "-dns", "127.0.0.1:1"}, &stdout, &stderr, &hooks{ready: func(a string) { ready <- a }})
	}()
	var addr string
	select {
	case addr = <-ready:
	case code := <-done:
		t.Fatalf("exit %d: %s", code, stderr.String())
	}

	if err := sendMail(addr, "you@elsewhere.example", []string{"alice@example.com"}, "Subject: hi\r\n\r\nIt works.\r\n"); err != nil {
		t.Fatal(err)
	}
	m := waitMessage(t, got)
	if !slices.Equal(m.to, []string{"alice@example.com"}) || !strings.Contains(m.data, "It works.") {
		t.Errorf("internal server got %v:\n%s", m.to, m.data)
	}
	if err := sendMail(addr, "you@elsewhere.example", []string{"nobody@example.com"}, "Subject: hi\r\n\r\nx\r\n"); err == nil || !strings.Contains(err.Error(), "User unknown in relay recipient table") {
		t.Errorf("unknown recipient: %v", err)
	}

	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{"gw.example.com listening on " + addr, "relay_recipient_maps = gateway:recipients", "queue stays in " + queueDir} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
		}
	}
}

// sendMail sends one message with net/smtp, as the few lines of Go a
// user would write.
func sendMail(addr, from string, to []string, msg string) error {
	return netsmtp.SendMail(addr, nil, from, to, []byte(msg))
}
