package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mxrelay/mxrelay/internal/testenv"
	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/transport"
	"github.com/mxrelay/mxrelay/transport/client"
	"github.com/mxrelay/mxrelay/transport/dnstest"
)

// sink is a loopback SMTP server standing in for a next hop: it records
// what it accepts and refuses the recipients it is told to.
type sink struct {
	t    testing.TB
	addr string
	srv  *smtp.Server

	mu     sync.Mutex
	msgs   []sinkMsg
	reject map[string]*smtp.SMTPError // by recipient
	down   bool                       // answer 421 at MAIL
	got    chan struct{}
}

type sinkMsg struct {
	From  string
	To    []string
	Data  string
	Notes []string // RCPT NOTIFY/ORCPT as seen
}

func startSink(t testing.TB) *sink {
	t.Helper()
	s := &sink{t: t, reject: map[string]*smtp.SMTPError{}, got: make(chan struct{}, 100)}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &sinkSession{s: s}, nil
	}))
	s.srv.Domain = "sink.example"
	s.srv.EnableDSN = true
	s.srv.EnableSMTPUTF8 = true
	s.srv.ErrorLog = discardLog{}
	if testing.Verbose() {
		s.srv.Debug = os.Stderr
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	go s.srv.Serve(l)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

type discardLog struct{}

func (discardLog) Printf(string, ...any) {}
func (discardLog) Println(...any)        {}

func (s *sink) messages() []sinkMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkMsg(nil), s.msgs...)
}

func (s *sink) setDown(v bool) {
	s.mu.Lock()
	s.down = v
	s.mu.Unlock()
}

// wait waits until the sink holds n messages.
func (s *sink) wait(n int) []sinkMsg {
	s.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		if m := s.messages(); len(m) >= n {
			return m
		}
		select {
		case <-s.got:
		case <-deadline:
			s.t.Fatalf("sink %s: %d messages, want %d", s.addr, len(s.messages()), n)
		}
	}
}

type sinkSession struct {
	s   *sink
	msg sinkMsg
}

func (ss *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if ss.s.down {
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "down for maintenance"}
	}
	ss.msg = sinkMsg{From: from}
	return nil
}

func (ss *sinkSession) Rcpt(to string, o *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if e := ss.s.reject[to]; e != nil {
		return e
	}
	ss.msg.To = append(ss.msg.To, to)
	if o != nil {
		ss.msg.Notes = append(ss.msg.Notes, fmt.Sprintf("%v %s", o.Notify, o.OriginalRecipient))
	}
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.msg.Data = string(b)
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, ss.msg)
	ss.s.mu.Unlock()
	ss.s.got <- struct{}{}
	return nil
}

func (ss *sinkSession) Reset()        {}
func (ss *sinkSession) Logout() error { return nil }

// world is a relay under test: a backup MX (127.0.0.3 in DNS) for
// example.test, whose primary is a sink at 127.0.0.2, with the sender's
// domain sender.example served by another sink at 127.0.0.5. Port 25 of
// those addresses is redirected to the sinks by the client's dialer.
type world struct {
	t       *testing.T
	dns     *dnstest.Server
	primary *sink
	senders *sink
	relay   *MX
	server  *Server
	addr    string
	sched   *queue.Scheduler
	mem     *queue.Memory
	logs    *syncBuffer
	mu      sync.Mutex
	attempt []Attempt
}

// syncBuffer collects the relay log while workers write to it.
type syncBuffer = testenv.Buffer

type worldOpts struct {
	cfg   func(*Config)
	qcfg  func(*queue.Config)
	pol   func(*policy.Config)
	mem   *queue.Memory
	noRun bool
}

func newWorld(t *testing.T, o worldOpts) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{t: t, primary: startSink(t), senders: startSink(t), logs: &syncBuffer{}}
	d, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	w.dns = d
	if err := d.AddZone(`
$ORIGIN example.test.
@        300 IN MX 10 primary
@        300 IN MX 20 mx2
primary  300 IN A 127.0.0.2
mx2      300 IN A 127.0.0.3
$ORIGIN sender.example.
@        300 IN MX 10 mx
mx       300 IN A 127.0.0.5
`); err != nil {
		t.Fatal(err)
	}
	res, err := transport.NewDNS(transport.DNSConfig{Servers: []string{d.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	redirect := map[string]string{"127.0.0.2:25": w.primary.addr, "127.0.0.5:25": w.senders.addr}
	cl, err := client.New(client.Config{
		Hostname: "mx2.example.test",
		MaxIdle:  -1,
		Dialer: client.DialerFunc(func(ctx context.Context, network, address string) (net.Conn, error) {
			to, ok := redirect[address]
			if !ok {
				return nil, fmt.Errorf("dial %s: connection refused (test network)", address)
			}
			var nd net.Dialer
			return nd.DialContext(ctx, network, to)
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	agent, err := transport.NewAgent(transport.AgentConfig{
		Sender:    cl,
		Addresses: transport.AddressConfig{Resolver: res, MyAddresses: []netip.Addr{netip.MustParseAddr("127.0.0.3")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	relayDomains, _, err := lookup.ParseList(ctx, "example.test", lookup.ListOptions{ParentStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	router, err := transport.NewRouter(transport.RouterConfig{
		Domains:    &lookup.Domains{RelayDomains: relayDomains},
		MyHostname: "mx2.example.test",
	})
	if err != nil {
		t.Fatal(err)
	}
	pc := policy.Config{
		MyHostname:         "mx2.example.test",
		RelayDomains:       "example.test",
		RelayRecipientMaps: "inline:{ u@example.test=OK, v@example.test=OK, bad@example.test=OK }",
		InetInterfaces:     "127.0.0.1",
	}
	if o.pol != nil {
		o.pol(&pc)
	}
	pol, err := policy.New(ctx, pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pol.Close() })
	w.mem = o.mem
	if w.mem == nil {
		w.mem = queue.NewMemory()
	}
	qc := queue.Config{
		MinimalBackoff: 50 * time.Millisecond, MaximalBackoff: 100 * time.Millisecond, Poll: 20 * time.Millisecond,
	}
	if o.qcfg != nil {
		o.qcfg(&qc)
	}
	w.sched = queue.NewScheduler(w.mem, qc)
	cfg := Config{
		Hostname:   "mx2.example.test",
		Policy:     pol,
		Queue:      w.sched,
		Router:     router,
		Agent:      agent,
		Workers:    2,
		ErrorSleep: -1,
		// Debug: tests look for lines Postfix does not write (the DSN not
		// sent to the null sender).
		Logger: slog.New(slog.NewTextHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Observer: ObserverFuncs{AttemptedFunc: func(a Attempt) {
			w.mu.Lock()
			w.attempt = append(w.attempt, a)
			w.mu.Unlock()
		}},
	}
	if o.noRun {
		cfg.Router, cfg.Agent = nil, nil
	}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	w.relay, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.server, err = NewServer(ServerConfig{MX: w.relay})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w.addr = l.Addr().String()
	served := make(chan error, 1)
	go func() { served <- w.server.Serve(context.Background(), l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := w.server.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if t.Failed() {
			t.Logf("relay log:\n%s", w.logs.String())
		}
	})
	return w
}

func (w *world) attempts() []Attempt {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Attempt(nil), w.attempt...)
}

// dial opens an SMTP client session to the relay and says EHLO.
func (w *world) dial() *smtp.Client {
	w.t.Helper()
	c, err := smtp.Dial(w.addr)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := c.Hello("client.example"); err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { c.Close() })
	return c
}

// send sends one message and returns the error of the first failing step.
func (w *world) send(from string, to []string, body string) error {
	c := w.dial()
	if err := transact(c, from, to, body); err != nil {
		return err
	}
	return c.Quit()
}

// transact runs one mail transaction on an open session.
func transact(c *smtp.Client, from string, to []string, body string) error {
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	wc, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(wc, body); err != nil {
		return err
	}
	return wc.Close()
}

func smtpCode(err error) int {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

func TestRelayBackupMX(t *testing.T) {
	w := newWorld(t, worldOpts{})
	c := w.dial()
	if err := c.Mail("s@sender.example", nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rcpt string
		code int
		text string
	}{
		{"u@example.test", 0, ""},
		{"V@EXAMPLE.TEST", 0, ""},
		{"nosuch@example.test", 550, "5.1.1 <nosuch@example.test>: Recipient address rejected: User unknown in relay recipient table"},
		{"x@stranger.example", 454, "4.7.1 <x@stranger.example>: Relay access denied"},
	} {
		err := c.Rcpt(tc.rcpt, nil)
		if smtpCode(err) != tc.code {
			t.Errorf("RCPT %s: %v, want %d", tc.rcpt, err, tc.code)
		}
		if tc.code != 0 {
			var se *smtp.SMTPError
			errors.As(err, &se)
			if got := fmt.Sprintf("%d.%d.%d %s", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], se.Message); got != tc.text {
				t.Errorf("RCPT %s: reply %q, want %q", tc.rcpt, got, tc.text)
			}
		}
	}
	wc, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(wc, "Subject: test\r\n\r\nHello through the backup MX.\r\n")
	if err := wc.Close(); err != nil {
		t.Fatalf("end of data: %v", err)
	}
	c.Quit()
	msgs := w.primary.wait(1)
	m := msgs[0]
	if m.From != "s@sender.example" || len(m.To) != 2 {
		t.Errorf("primary got from %q to %q", m.From, m.To)
	}
	for _, want := range []string{
		"Received: from client.example (unknown [127.0.0.1])\r\n\tby mx2.example.test (Postfix) with ESMTP id ",
		"Subject: test\r\n\r\nHello through the backup MX.\r\n",
	} {
		if !strings.Contains(m.Data, want) {
			t.Errorf("relayed message lacks %q:\n%s", want, m.Data)
		}
	}
	// One log line and one observed attempt per recipient.
	waitFor(t, func() bool { return len(w.attempts()) == 2 })
	for _, a := range w.attempts() {
		if a.Status != "sent" || a.DSN != "2.0.0" || !strings.HasPrefix(a.Relay, "primary.example.test[127.0.0.2]:25") {
			t.Errorf("attempt %+v", a)
		}
	}
	logs := w.logs.String()
	if strings.Count(logs, "msg=delivery") != 2 || !strings.Contains(logs, "status=sent") || !strings.Contains(logs, "relay=primary.example.test[127.0.0.2]:25") {
		t.Errorf("delivery log lines:\n%s", logs)
	}
	waitFor(t, func() bool { return w.mem.Len() == 0 })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRelayPrimaryDownThenBack(t *testing.T) {
	w := newWorld(t, worldOpts{})
	w.primary.setDown(true)
	if err := w.send("s@sender.example", []string{"u@example.test"}, "Subject: waits\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		for _, a := range w.attempts() {
			if a.Status == "deferred" {
				return true
			}
		}
		return false
	})
	if n := len(w.primary.messages()); n != 0 {
		t.Fatalf("primary got %d messages while down", n)
	}
	a := w.attempts()[0]
	if !strings.HasPrefix(a.DSN, "4.") || !strings.Contains(a.Reason, "down for maintenance") {
		t.Errorf("deferral %+v", a)
	}
	w.primary.setDown(false)
	m := w.primary.wait(1)
	if !strings.Contains(m[0].Data, "Subject: waits") {
		t.Errorf("message %q", m[0].Data)
	}
	if n := len(w.senders.messages()); n != 0 {
		t.Errorf("sender got %d notifications for a deferred-then-delivered message", n)
	}
}

func TestRelayBounceDSN(t *testing.T) {
	w := newWorld(t, worldOpts{})
	w.primary.reject["bad@example.test"] = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user here"}
	if err := w.send("s@sender.example", []string{"u@example.test", "bad@example.test"}, "Subject: half\r\n\r\nbody\r\n"); err != nil {
		t.Fatal(err)
	}
	w.primary.wait(1)
	dsns := w.senders.wait(1)
	d := dsns[0]
	if d.From != "" || len(d.To) != 1 || d.To[0] != "s@sender.example" {
		t.Fatalf("DSN envelope from %q to %v", d.From, d.To)
	}
	p := parseDSN(t, []byte(d.Data))
	if p.rcpts[0].Get("Final-Recipient") != "rfc822; bad@example.test" || p.rcpts[0].Get("Status") != "5.1.1" ||
		p.rcpts[0].Get("Action") != "failed" || p.rcpts[0].Get("Remote-Mta") != "dns; primary.example.test" {
		t.Errorf("recipient block %v", p.rcpts[0])
	}
	if !strings.Contains(p.rcpts[0].Get("Diagnostic-Code"), "smtp; 550 5.1.1 no such user here") {
		t.Errorf("Diagnostic-Code %q", p.rcpts[0].Get("Diagnostic-Code"))
	}
	if !strings.Contains(string(p.bodies[2]), "Subject: half") {
		t.Errorf("original not returned")
	}
	if len(p.rcpts) != 1 {
		t.Errorf("the delivered recipient is reported too: %v", p.rcpts)
	}
	waitFor(t, func() bool { return w.mem.Len() == 0 })
}

func TestRelayNoDSNToNullSender(t *testing.T) {
	w := newWorld(t, worldOpts{})
	w.primary.reject["bad@example.test"] = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no"}
	if err := w.send("", []string{"bad@example.test"}, "Subject: a bounce\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(w.attempts()) == 1 && w.mem.Len() == 0 })
	if a := w.attempts()[0]; a.Status != "bounced" {
		t.Errorf("attempt %+v", a)
	}
	if !strings.Contains(w.logs.String(), "not sending a notification to the null sender") {
		t.Errorf("no log line for the dropped null-sender DSN:\n%s", w.logs.String())
	}
	if n := len(w.senders.messages()); n != 0 {
		t.Errorf("%d DSNs sent for a null-sender message", n)
	}
}

func TestRelayNotifyNever(t *testing.T) {
	w := newWorld(t, worldOpts{})
	w.primary.reject["bad@example.test"] = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no"}
	c := w.dial()
	if err := c.Mail("s@sender.example", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("bad@example.test", &smtp.RcptOptions{Notify: []smtp.DSNNotify{smtp.DSNNotifyNever}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("u@example.test", &smtp.RcptOptions{Notify: []smtp.DSNNotify{smtp.DSNNotifySuccess}}); err != nil {
		t.Fatal(err)
	}
	wc, _ := c.Data()
	io.WriteString(wc, "Subject: n\r\n\r\nx\r\n")
	if err := wc.Close(); err != nil {
		t.Fatal(err)
	}
	// The success DSN for u@ arrives; no failure DSN for bad@.
	d := w.senders.wait(1)
	p := parseDSN(t, []byte(d[0].Data))
	if p.header.Get("Subject") != "Successful Mail Delivery Report" || p.rcpts[0].Get("Final-Recipient") != "rfc822; u@example.test" {
		t.Errorf("success DSN: %v %v", p.header, p.rcpts)
	}
	waitFor(t, func() bool { return w.mem.Len() == 0 })
	if n := len(w.senders.messages()); n != 1 {
		t.Errorf("%d notifications, want only the success one", n)
	}
	// The next hop is told NOTIFY and ORCPT (Postfix adds ORCPT).
	if notes := w.primary.messages()[0].Notes; len(notes) != 1 || !strings.Contains(notes[0], "u@example.test") {
		t.Errorf("next hop RCPT parameters %q", notes)
	}
}

// TestRelayExpiry: mail the primary never takes is returned when its
// queue lifetime (maximal_queue_lifetime) runs out, with status=expired
// in the log and a failure DSN whose reason is the last deferral.
func TestRelayExpiry(t *testing.T) {
	w := newWorld(t, worldOpts{qcfg: func(q *queue.Config) {
		q.Lifetimes.Maximal = 300 * time.Millisecond
	}})
	w.primary.setDown(true)
	if err := w.send("s@sender.example", []string{"u@example.test"}, "Subject: doomed\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	d := w.senders.wait(1)
	p := parseDSN(t, []byte(d[0].Data))
	if p.header.Get("Subject") != "Undelivered Mail Returned to Sender" || p.rcpts[0].Get("Action") != "failed" ||
		!strings.HasPrefix(p.rcpts[0].Get("Status"), "4.") || !strings.Contains(p.rcpts[0].Get("Diagnostic-Code"), "down for maintenance") {
		t.Errorf("expiry DSN: %v %v", p.header, p.rcpts)
	}
	waitFor(t, func() bool { return w.mem.Len() == 0 })
	var expired bool
	for _, a := range w.attempts() {
		expired = expired || a.Status == "expired"
	}
	if !expired || !strings.Contains(w.logs.String(), "status=expired") {
		t.Errorf("no expired attempt: %+v", w.attempts())
	}
}

// TestRelayDelayWarning: one "Delayed Mail" DSN once delay_warning_time
// is reached, then the mail is delivered when the primary comes back.
func TestRelayDelayWarning(t *testing.T) {
	w := newWorld(t, worldOpts{
		qcfg: func(q *queue.Config) { q.Lifetimes.DelayWarning = 200 * time.Millisecond },
		cfg:  func(c *Config) { c.DelayWarningTime = 4 * time.Hour },
	})
	w.primary.setDown(true)
	if err := w.send("s@sender.example", []string{"u@example.test"}, "Subject: slow\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	d := w.senders.wait(1)
	p := parseDSN(t, []byte(d[0].Data))
	if p.header.Get("Subject") != "Delayed Mail (still being retried)" || p.rcpts[0].Get("Action") != "delayed" || p.rcpts[0].Get("Will-Retry-Until") == "" {
		t.Errorf("delay DSN: %v %v", p.header, p.rcpts)
	}
	if ct := p.parts[2].Header.Get("Content-Type"); ct != "text/rfc822-headers" {
		t.Errorf("delay DSN returns %s, want the headers only", ct)
	}
	w.primary.setDown(false)
	w.primary.wait(1)
	waitFor(t, func() bool { return w.mem.Len() == 0 })
	if n := len(w.senders.messages()); n != 1 {
		t.Errorf("%d notifications, want the one delay warning", n)
	}
}

// TestRelayLargeMessage: a body larger than what a delivery keeps in
// memory goes through a temporary file, byte for byte.
func TestRelayLargeMessage(t *testing.T) {
	w := newWorld(t, worldOpts{cfg: func(c *Config) { c.MessageSizeLimit = 4 << 20 }})
	line := strings.Repeat("0123456789", 9) + "\r\n"
	body := "Subject: big\r\n\r\n" + strings.Repeat(line, (memoryBodyLimit/len(line))+100)
	if err := w.send("s@sender.example", []string{"u@example.test"}, body); err != nil {
		t.Fatal(err)
	}
	m := w.primary.wait(1)[0]
	if !strings.HasSuffix(m.Data, body) || len(m.Data) <= memoryBodyLimit {
		t.Errorf("relayed %d bytes, want the %d-byte body intact", len(m.Data), len(body))
	}
	waitFor(t, func() bool { return w.mem.Len() == 0 })
}

// A worker that died after recording outcomes (Done) and before queuing
// their DSNs leaves final recipients without the Notified mark. The next
// worker to claim the message notifies them before delivering the rest,
// exactly once: a recipient already marked is never bounced again.
func TestRelayNotifiesAfterWorkerCrash(t *testing.T) {
	mem := queue.NewMemory()
	ctx := context.Background()
	crashed := func(notified bool) *queue.Envelope {
		return &queue.Envelope{
			Sender: "s@sender.example",
			Recipients: []queue.Recipient{
				{Address: "bad@example.test", State: queue.Failed, Reason: "5.1.1 host primary.example.test[127.0.0.2] said: 550 5.1.1 no such user here (in reply to RCPT TO command)", Notified: notified},
				{Address: "u@example.test"},
			},
			Arrival:     time.Now().Add(-time.Minute),
			NextAttempt: time.Now().Add(-time.Second),
		}
	}
	// Stored straight into the backend, as the dead worker left them.
	if err := mem.Store(ctx, crashed(false), strings.NewReader("Subject: one\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := mem.Store(ctx, crashed(true), strings.NewReader("Subject: two\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, worldOpts{mem: mem})
	w.primary.wait(2)
	waitFor(t, func() bool { return w.mem.Len() == 0 })
	dsns := w.senders.messages()
	if len(dsns) != 1 {
		t.Fatalf("%d DSNs for one unnotified failure; want 1", len(dsns))
	}
	p := parseDSN(t, []byte(dsns[0].Data))
	if len(p.rcpts) != 1 || p.rcpts[0].Get("Final-Recipient") != "rfc822; bad@example.test" || p.rcpts[0].Get("Action") != "failed" {
		t.Errorf("DSN recipients %v", p.rcpts)
	}
	if !strings.Contains(string(p.bodies[2]), "Subject: one") {
		t.Errorf("the DSN returns the wrong message")
	}
}
