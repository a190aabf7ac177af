package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/mxrelay/mxrelay/internal/testenv"
	"github.com/mxrelay/mxrelay/transport/dnstest"
)

// output collects what mxrelayd prints.
type output = testenv.Buffer

// daemon is mxrelayd running in-process.
type daemon struct {
	addr   string
	out    *output
	errs   *output
	cancel context.CancelFunc
	done   chan int
}

func start(t *testing.T, args ...string) *daemon {
	t.Helper()
	return startWith(t, &hooks{}, args...)
}

func startWith(t *testing.T, h *hooks, args ...string) *daemon {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemon{out: &output{}, errs: &output{}, cancel: cancel, done: make(chan int, 1)}
	ready := make(chan string, 1)
	go func() {
		h.ready = func(a string) { ready <- a }
		d.done <- run(ctx, args, d.out, d.errs, h)
	}()
	select {
	case d.addr = <-ready:
	case code := <-d.done:
		t.Fatalf("mxrelayd exited %d:\n%s\n%s", code, d.out, d.errs)
	case <-time.After(20 * time.Second):
		t.Fatal("mxrelayd did not start")
	}
	t.Cleanup(func() {
		if code := d.stop(); code != 0 {
			t.Errorf("mxrelayd exited %d:\n%s", code, d.errs)
		}
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", d.out, d.errs)
		}
	})
	return d
}

func (d *daemon) stop() int {
	d.cancel()
	select {
	case c := <-d.done:
		d.done <- c
		return c
	case <-time.After(30 * time.Second):
		return -1
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func statusLines(t *testing.T, path string) []statusLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []statusLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l statusLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("status log line %q: %v", sc.Text(), err)
		}
		out = append(out, l)
	}
	return out
}

// TestDemo runs the demo as the README says (with free ports): the
// banner explains it, a message to alice@example.test reaches the
// stand-in primary, which prints it; unknown recipients are refused.
func TestDemo(t *testing.T) {
	status := filepath.Join(t.TempDir(), "status.jsonl")
	d := start(t, "-listen", "127.0.0.1:0", "-demo-primary", "127.0.0.1:0", "-status-log", status, "-queue", t.TempDir(), "-dns", noDNS)
	for _, want := range []string{"backup MX for example.test", "alice@example.test, bob@example.test", "swaks --server " + d.addr, "smtp.SendMail(\"" + d.addr, "stand-in primary started"} {
		if !strings.Contains(d.out.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, d.out)
		}
	}
	err := smtp.SendMail(d.addr, nil, "you@sender.example", []string{"alice@example.test"}, []byte("Subject: hello\r\n\r\nIt works.\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stand-in primary", func() bool { return strings.Contains(d.out.String(), "--- end of message ---") })
	if !strings.Contains(d.out.String(), "stand-in primary received a message from <you@sender.example> for <alice@example.test>") ||
		!strings.Contains(d.out.String(), "Subject: hello\n") || !strings.Contains(d.out.String(), "\n\nIt works.\n--- end") ||
		// A local client (127.0.0.1, permit_inet_interfaces): Postfix's
		// cleanup adds the headers the message lacks.
		!strings.Contains(d.out.String(), "\nFrom: you@sender.example\n") {
		t.Errorf("stand-in output:\n%s", d.out)
	}
	waitFor(t, "the status log", func() bool { return len(statusLines(t, status)) == 1 })
	if l := statusLines(t, status)[0]; l.Status != "sent" || l.Rcpt != "alice@example.test" || l.DSN != "2.0.0" || l.QueueID == "" {
		t.Errorf("status line %+v", l)
	}
	err = smtp.SendMail(d.addr, nil, "you@sender.example", []string{"carol@example.test"}, []byte("Subject: x\r\n\r\nx\r\n"))
	if err == nil || !strings.Contains(err.Error(), "550") || !strings.Contains(err.Error(), "5.1.1 <carol@example.test>: Recipient address rejected: User unknown in relay recipient table") {
		t.Errorf("unknown recipient: %v", err)
	}
	err = smtp.SendMail(d.addr, nil, "you@sender.example", []string{"x@elsewhere.example"}, []byte("Subject: x\r\n\r\nx\r\n"))
	if err == nil || !strings.Contains(err.Error(), "454") || !strings.Contains(err.Error(), "4.7.1 <x@elsewhere.example>: Relay access denied") {
		t.Errorf("relay attempt: %v", err)
	}
}

// sink is a loopback next hop.
type sink struct {
	mu     sync.Mutex
	msgs   []string
	addr   string
	srv    *gosmtp.Server
	reject map[string]bool // recipients refused with 550 5.1.1
	down   bool            // 421 at MAIL
}

func startSink(t *testing.T, addr string) *sink {
	t.Helper()
	s := &sink{}
	s.srv = gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &sinkSession{s: s}, nil }))
	s.srv.Domain = "sink.example"
	s.srv.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	go s.srv.Serve(l)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

func (s *sink) messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.msgs...)
}

type sinkSession struct{ s *sink }

func (ss *sinkSession) Mail(string, *gosmtp.MailOptions) error {
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if ss.s.down {
		return &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 3, 2}, Message: "down for maintenance"}
	}
	return nil
}

func (ss *sinkSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if ss.s.reject[to] {
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user here"}
	}
	return nil
}
func (ss *sinkSession) Reset()        {}
func (ss *sinkSession) Logout() error { return nil }
func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err // a transfer cut short is not a message received
	}
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, string(b))
	ss.s.mu.Unlock()
	return err
}

// TestDemoExistingPrimary: when something listens on the demo's primary
// address, the demo relays to it and starts no stand-in.
func TestDemoExistingPrimary(t *testing.T) {
	primary := startSink(t, "127.0.0.1:0")
	d := start(t, "-listen", "127.0.0.1:0", "-demo-primary", primary.addr, "-queue", t.TempDir(), "-dns", noDNS)
	if !strings.Contains(d.out.String(), "an SMTP server already listening there") {
		t.Errorf("banner:\n%s", d.out)
	}
	if err := smtp.SendMail(d.addr, nil, "you@sender.example", []string{"bob@example.test"}, []byte("Subject: real\r\n\r\nto the real one\r\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the primary", func() bool { return len(primary.messages()) == 1 })
	if strings.Contains(d.out.String(), "stand-in primary received") {
		t.Error("a stand-in primary ran although one was listening")
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.cf")
	os.WriteFile(good, []byte("compatibility_level = 3.6\nmyhostname = mx.example.net\nrelay_domains = example.test\nbiff = no\n"), 0o644)
	var out, errs output
	if code := run(context.Background(), []string{"-check", "-config", good, "-dns", noDNS}, &out, &errs, nil); code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	for _, want := range []string{"warning: ", "relay_recipient_maps", "ignored: line 4: biff = no", "configuration OK"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-check output lacks %q:\n%s", want, out.String())
		}
	}
	out, errs = output{}, output{}
	if code := run(context.Background(), []string{"-check", "-config", good, "-hostname", "other.example.net", "-dns", noDNS}, &out, &errs, nil); code != 0 ||
		!strings.Contains(out.String(), "configuration OK: myhostname=other.example.net ") {
		t.Errorf("-hostname: exit %d:\n%s", code, out.String())
	}
	bad := filepath.Join(dir, "bad.cf")
	os.WriteFile(bad, []byte("compatibility_level = 3.6\nrelay_recipient_maps = hash:/nonexistent/relay_recipients\nrelay_domains = example.test\n"), 0o644)
	out, errs = output{}, output{}
	if code := run(context.Background(), []string{"-check", "-config", bad, "-dns", noDNS}, &out, &errs, nil); code != 1 {
		t.Errorf("a missing table: exit %d, want 1:\n%s", code, out.String())
	}
	if !strings.Contains(errs.String(), "/nonexistent/relay_recipients") {
		t.Errorf("error does not name the table:\n%s", errs.String())
	}
	// A fatal error does not hide what was found before it, and a missing
	// compatibility_level (the usual cause of surprises) is named.
	worse := filepath.Join(dir, "worse.cf")
	os.WriteFile(worse, []byte("relay_domains = example.test\nbiff = no\nsmtpd_recipient_restrictions = permit_mynetwork, reject_unauth_destination\n"), 0o644)
	out, errs = output{}, output{}
	if code := run(context.Background(), []string{"-check", "-config", worse, "-dns", noDNS}, &out, &errs, nil); code != 1 {
		t.Errorf("a bad restriction: exit %d, want 1:\n%s", code, out.String())
	}
	for _, want := range []string{"ignored: line 2: biff = no", "hint: compatibility_level is not set"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-check output before the error lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(errs.String(), "permit_mynetwork") {
		t.Errorf("the error does not name the bad restriction:\n%s", errs.String())
	}

	// A parameter that changes how mail flows and is not implemented is
	// refused, named with its line, unless accepted by name; a typo is
	// reported as Postfix reports it, with the nearest name, and does not
	// stop mxrelayd (Postfix runs with it too).
	flow := filepath.Join(dir, "flow.cf")
	os.WriteFile(flow, []byte("compatibility_level = 3.6\nrelay_domains = example.test\nrelay_recipent_maps = hash:/x\n"+
		"milter_header_checks = regexp:/x\nsmtpd_sasl_auth_enable = yes\n"), 0o644)
	out, errs = output{}, output{}
	if code := run(context.Background(), []string{"-check", "-config", flow, "-dns", noDNS}, &out, &errs, nil); code != 1 {
		t.Errorf("unimplemented parameters: exit %d, want 1:\n%s", code, out.String())
	}
	for _, want := range []string{
		"unknown: line 3: relay_recipent_maps = hash:/x: unused parameter: Postfix does not know it (did you mean relay_recipient_maps?)",
		"not implemented: line 4: milter_header_checks",
		"not implemented: line 5: smtpd_sasl_auth_enable",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-check output lacks %q:\n%s", want, out.String())
		}
	}
	for _, want := range []string{"line 4: milter_header_checks", "line 5: smtpd_sasl_auth_enable", "-accept-unimplemented"} {
		if !strings.Contains(errs.String(), want) {
			t.Errorf("the error lacks %q:\n%s", want, errs.String())
		}
	}
	out, errs = output{}, output{}
	if code := run(context.Background(), []string{"-check", "-config", flow, "-dns", noDNS, "-accept-unimplemented", "milter_header_checks"}, &out, &errs, nil); code != 1 ||
		strings.Contains(errs.String(), "milter_header_checks") || !strings.Contains(errs.String(), "smtpd_sasl_auth_enable") {
		t.Errorf("accepting one: exit %d, error:\n%s", code, errs.String())
	}
	out, errs = output{}, output{}
	if code := run(context.Background(), []string{"-check", "-config", flow, "-dns", noDNS, "-accept-unimplemented", "milter_header_checks,smtpd_sasl_auth_enable"}, &out, &errs, nil); code != 0 {
		t.Errorf("accepting both: exit %d:\n%s\n%s", code, out.String(), errs.String())
	}
}

// TestRestart stops mxrelayd with mail deferred in its queue and starts
// it again once the primary is back: the mail is delivered.
func TestRestart(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	primaryAddr := l.Addr().String()
	l.Close() // the primary is down
	dir := t.TempDir()
	cfg := filepath.Join(dir, "main.cf")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`compatibility_level = 3.6
myhostname = mx2.example.test
mynetworks =
relay_domains = example.test
relay_recipient_maps = inline:{ alice@example.test=OK }
relay_transport = relay:[127.0.0.1]:%s
minimal_backoff_time = 1s
maximal_backoff_time = 1s
`, portOf(primaryAddr))), 0o644)
	qdir := filepath.Join(dir, "queue")
	status := filepath.Join(dir, "status.jsonl")
	args := []string{"-config", cfg, "-queue", qdir, "-listen", "127.0.0.1:0", "-status-log", status, "-dns", noDNS}
	d := start(t, args...)
	if err := smtp.SendMail(d.addr, nil, "you@sender.example", []string{"alice@example.test"}, []byte("Subject: survive\r\n\r\nrestart\r\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a deferral", func() bool {
		ls := statusLines(t, status)
		return len(ls) > 0 && ls[0].Status == "deferred"
	})
	if code := d.stop(); code != 0 {
		t.Fatalf("stop: exit %d", code)
	}
	primary := startSink(t, primaryAddr)
	start(t, args...)
	waitFor(t, "delivery after the restart", func() bool { return len(primary.messages()) == 1 })
	if !strings.Contains(primary.messages()[0], "restart") {
		t.Errorf("message %q", primary.messages()[0])
	}
	waitFor(t, "the sent line", func() bool {
		ls := statusLines(t, status)
		return len(ls) > 0 && ls[len(ls)-1].Status == "sent"
	})
}

// TestSwaks sends with swaks, as the banner tells newcomers to.
func TestSwaks(t *testing.T) {
	swaks := testenv.NeedProgram(t, "swaks")
	d := start(t, "-listen", "127.0.0.1:0", "-demo-primary", "127.0.0.1:0", "-queue", t.TempDir(), "-dns", noDNS)
	out, err := exec.Command(swaks, "--server", d.addr, "--from", "you@sender.example", "--to", "alice@example.test",
		"--header", "Subject: from swaks", "--body", "sent by swaks").CombinedOutput()
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "250 2.0.0 Ok: queued as ") {
		t.Errorf("swaks transcript:\n%s", out)
	}
	waitFor(t, "the stand-in primary", func() bool { return strings.Contains(d.out.String(), "sent by swaks") })
	// An unknown recipient: swaks reports the 550 and exits non-zero.
	out, err = exec.Command(swaks, "--server", d.addr, "--from", "you@sender.example", "--to", "nobody@example.test").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "550 5.1.1 <nobody@example.test>: Recipient address rejected") {
		t.Errorf("swaks to an unknown recipient: %v\n%s", err, out)
	}
}

// TestSmtpSinkPrimary relays to Postfix's smtp-sink as the primary.
func TestSmtpSinkPrimary(t *testing.T) {
	sinkProg := testenv.NeedProgram(t, "smtp-sink")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	// Not t.TempDir: as root, smtp-sink writes as nobody, who cannot
	// enter the test's private temporary directory.
	dump, err := os.MkdirTemp("", "mxrelayd-smtp-sink-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dump) })
	os.Chmod(dump, 0o777)
	args := []string{"-d", dump + "/msg.", addr, "10"}
	if os.Geteuid() == 0 {
		args = append([]string{"-u", "nobody"}, args...)
	}
	cmd := exec.Command(sinkProg, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitFor(t, "smtp-sink", func() bool { return listening(addr) })
	d := start(t, "-listen", "127.0.0.1:0", "-demo-primary", addr, "-queue", t.TempDir(), "-dns", noDNS)
	if err := smtp.SendMail(d.addr, nil, "you@sender.example", []string{"bob@example.test"}, []byte("Subject: sink\r\n\r\nto smtp-sink\r\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "smtp-sink's dump file", func() bool {
		m, _ := filepath.Glob(filepath.Join(dump, "msg.*"))
		if len(m) != 1 {
			return false
		}
		b, _ := os.ReadFile(m[0])
		return strings.Contains(string(b), "to smtp-sink")
	})
}

// TestBackupMXWithDNS runs mxrelayd from a main.cf as the backup MX of
// example.test in a dnstest zone (the primary at 127.0.0.2, mxrelayd's
// own 127.0.0.1 cutting the MX list, the sender's MX at 127.0.0.5; port
// 25 of those addresses leads to loopback sinks), and sends with swaks:
// the primary reachable, answering 5xx (a DSN reaches the sender's MX),
// and down (the mail waits and arrives when it is back).
func TestBackupMXWithDNS(t *testing.T) {
	swaks := testenv.NeedProgram(t, "swaks")
	zone, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer zone.Close()
	if err := zone.AddZone(`
$ORIGIN example.test.
@        300 IN MX 10 primary
@        300 IN MX 20 mx2
primary  300 IN A 127.0.0.2
mx2      300 IN A 127.0.0.1
$ORIGIN sender.example.
@        300 IN MX 10 mx
mx       300 IN A 127.0.0.5
`); err != nil {
		t.Fatal(err)
	}
	primary := startSink(t, "127.0.0.1:0")
	primary.reject = map[string]bool{"gone@example.test": true}
	senderMX := startSink(t, "127.0.0.1:0")
	redirect := map[string]string{"127.0.0.2:25": primary.addr, "127.0.0.5:25": senderMX.addr}
	dialer := redirectDialer(redirect)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "main.cf")
	os.WriteFile(cfg, []byte(`compatibility_level = 3.6
myhostname = mx2.example.test
mydestination =
mynetworks =
relay_domains = example.test
relay_recipient_maps = inline:{ alice@example.test=OK, bob@example.test=OK, gone@example.test=OK }
inet_interfaces = 127.0.0.1
minimal_backoff_time = 1s
maximal_backoff_time = 1s
`), 0o644)
	status := filepath.Join(dir, "status.jsonl")
	d := startWith(t, &hooks{dialer: dialer}, "-config", cfg, "-listen", "127.0.0.1:0", "-queue", filepath.Join(dir, "q"),
		"-dns", zone.Addr(), "-status-log", status)
	send := func(to, subject string) {
		t.Helper()
		out, err := exec.Command(swaks, "--server", d.addr, "--from", "you@sender.example", "--to", to,
			"--header", "Subject: "+subject, "--body", subject).CombinedOutput()
		if err != nil {
			t.Fatalf("swaks to %s: %v\n%s", to, err, out)
		}
	}
	has := func(s *sink, text string) func() bool {
		return func() bool {
			for _, m := range s.messages() {
				if strings.Contains(m, text) {
					return true
				}
			}
			return false
		}
	}

	send("alice@example.test", "reachable")
	waitFor(t, "delivery to the primary", has(primary, "Subject: reachable"))

	send("gone@example.test", "refused")
	waitFor(t, "a DSN at the sender's MX", has(senderMX, "Subject: Undelivered Mail Returned to Sender"))
	var dsn string
	for _, m := range senderMX.messages() {
		dsn = m
	}
	msg, err := mail.ReadMessage(strings.NewReader(dsn))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("DSN Content-Type %q", msg.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var types []string
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		types = append(types, p.Header.Get("Content-Type"))
		if p.Header.Get("Content-Type") == "message/delivery-status" {
			b, _ := io.ReadAll(p)
			if !strings.Contains(string(b), "Final-Recipient: rfc822; gone@example.test") || !strings.Contains(string(b), "Status: 5.1.1") {
				t.Errorf("delivery status:\n%s", b)
			}
		}
	}
	if strings.Join(types, ",") != "text/plain; charset=us-ascii,message/delivery-status,message/rfc822" {
		t.Errorf("DSN parts %q", types)
	}

	primary.mu.Lock()
	primary.down = true
	primary.mu.Unlock()
	send("bob@example.test", "waits")
	waitFor(t, "a deferral", func() bool {
		for _, l := range statusLines(t, status) {
			if l.Rcpt == "bob@example.test" && l.Status == "deferred" {
				return true
			}
		}
		return false
	})
	if has(primary, "Subject: waits")() {
		t.Fatal("delivered while the primary was down")
	}
	primary.mu.Lock()
	primary.down = false
	primary.mu.Unlock()
	waitFor(t, "delivery once the primary is back", has(primary, "Subject: waits"))
}

type dialerFunc func(ctx context.Context, network, address string) (net.Conn, error)

func (f dialerFunc) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return f(ctx, network, address)
}

// noDNS is a loopback address where no DNS server listens: tests that
// need no DNS must not reach the machine's resolvers.
const noDNS = "127.0.0.1:1"

// TestStandInLimits: the demo's stand-in primary listens where any local
// program can reach it, so it caps messages (SIZE advertised) and
// recipients, and Close waits for its server.
func TestStandInLimits(t *testing.T) {
	var out output
	p, err := startStandIn("127.0.0.1:0", &out)
	if err != nil {
		t.Fatal(err)
	}
	c, err := smtp.Dial(p.addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Hello("client.example"); err != nil {
		t.Fatal(err)
	}
	if ok, size := c.Extension("SIZE"); !ok || size != "10240000" {
		t.Errorf("SIZE %v %q, want 10240000", ok, size)
	}
	c.Close()
	if p.srv.MaxRecipients != 1000 {
		t.Errorf("MaxRecipients %d", p.srv.MaxRecipients)
	}
	p.Close()
	select {
	case <-p.served:
	default:
		t.Error("Close returned before the server")
	}
}
