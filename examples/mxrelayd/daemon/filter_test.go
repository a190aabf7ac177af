package daemon

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log"
	"net"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// afterQueueFilter is an amavis-style content filter: it receives on a
// loopback port, tags each message with a header and sends it back to
// the reinjection listener before it answers, as amavisd-new does.
type afterQueueFilter struct {
	t        *testing.T
	addr     string
	reinject string
	// beforeReinject runs between the receipt of a message and its
	// reinjection, afterReinject between the reinjection and the reply
	// (the crash test kills mxrelayd there).
	beforeReinject, afterReinject func(id string)

	mu         sync.Mutex
	reinjected map[string]int // by X-Case header
}

func startFilter(t *testing.T, reinject string) *afterQueueFilter {
	t.Helper()
	f := &afterQueueFilter{t: t, reinject: reinject, reinjected: map[string]int{}}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &filterSession{f: f}, nil }))
	srv.Domain = "filter.example"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = l.Addr().String()
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return f
}

type filterSession struct {
	f     *afterQueueFilter
	from  string
	rcpts []string
}

func (s *filterSession) Mail(from string, _ *gosmtp.MailOptions) error {
	s.from, s.rcpts = from, nil
	return nil
}

func (s *filterSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	s.rcpts = append(s.rcpts, to)
	return nil
}

func (s *filterSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	id := headerValue(b, "X-Case")
	if headerValue(b, "X-Tag") != "" {
		s.f.t.Errorf("%s: the filter got a message it had tagged: the reinjected mail looped", id)
	}
	if s.f.beforeReinject != nil {
		s.f.beforeReinject(id)
	}
	msg := append([]byte("X-Tag: scanned\r\n"), b...)
	if err := smtp.SendMail(s.f.reinject, nil, s.from, s.rcpts, msg); err != nil {
		// amavisd-new answers a failed reinjection with a deferral.
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 5, 0}, Message: "reinjection failed"}
	}
	s.f.mu.Lock()
	s.f.reinjected[id]++
	s.f.mu.Unlock()
	if s.f.afterReinject != nil {
		s.f.afterReinject(id)
	}
	return nil
}

func (s *filterSession) Reset()        {}
func (s *filterSession) Logout() error { return nil }

// headerValue is the value of the first header field name of a message.
func headerValue(msg []byte, name string) string {
	sc := bufio.NewScanner(bytes.NewReader(msg))
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// relaydProcess is mxrelayd running as a process of its own, which the
// test can kill with SIGKILL and start again on the same queue.
type relaydProcess struct {
	args  []string
	ports []string // the listening ports that tell it is up

	life    sync.Mutex // one start, restart or stop at a time
	stopped bool
	cmd     *exec.Cmd
	errs    *output
}

// start starts mxrelayd and waits until it listens on every port.
func (p *relaydProcess) start() error {
	p.life.Lock()
	defer p.life.Unlock()
	return p.startLocked()
}

func (p *relaydProcess) startLocked() error {
	if p.stopped {
		return fmt.Errorf("mxrelayd was stopped")
	}
	cmd := exec.Command(p.args[0], p.args[1:]...)
	p.errs = &output{}
	cmd.Stderr = p.errs
	if err := cmd.Start(); err != nil {
		return err
	}
	p.cmd = cmd
	deadline := time.Now().Add(20 * time.Second)
	for _, port := range p.ports {
		for {
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("mxrelayd did not listen on %s:\n%s", port, p.errs)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// restart ends the process with SIGKILL (nothing is flushed, no session
// ends cleanly) and starts another on the same queue.
func (p *relaydProcess) restart() error {
	p.life.Lock()
	defer p.life.Unlock()
	if p.stopped {
		return nil
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
	return p.startLocked()
}

// stop ends the process with SIGTERM, for good.
func (p *relaydProcess) stop() {
	p.life.Lock()
	defer p.life.Unlock()
	p.stopped = true
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

// TestContentFilterCrash runs FILTER_README's after-queue filter loop
// through mxrelayd processes: mail accepted on the MX port goes to the
// content filter (content_filter = smtp-amavis:[127.0.0.1]:port), which
// tags it and sends it back to the reinjection port (-o content_filter=,
// -o receive_override_options=no_header_body_checks: its header_checks
// would refuse the tag), from where it goes to the inside host. Some
// messages have mxrelayd killed with SIGKILL between the filter's receipt
// and its reinjection, others between the reinjection and the filter's
// 250, and mxrelayd started again on the same queue. Then a burst of
// concurrent messages goes through without kills. Every
// message answered 250 arrives at the inside host, tagged; a killed
// delivery to the filter is made again, so each kill may duplicate its
// message once, as Postfix's queue manager would, and nothing else is
// duplicated.
func TestContentFilterCrash(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "mxrelayd")
	if out, err := exec.Command("go", "build", "-o", bin, "..").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	inside := startSink(t, "127.0.0.1:0")
	mx, reinject := freePort(t), freePort(t)
	filter := startFilter(t, "127.0.0.1:"+reinject)
	cfg := filepath.Join(dir, "main.cf")
	os.WriteFile(filepath.Join(dir, "header_checks"), []byte("/^X-Tag:/ REJECT tagged mail from outside\n"), 0o644)
	os.WriteFile(cfg, []byte(fmt.Sprintf(`compatibility_level = 3.6
myhostname = gw.example.test
mydestination =
mynetworks = 127.0.0.0/8
relay_domains = example.test
relay_transport = relay:[127.0.0.1]:%s
content_filter = smtp-amavis:[127.0.0.1]:%s
header_checks = regexp:%s
`, portOf(inside.addr), portOf(filter.addr), filepath.Join(dir, "header_checks"))), 0o644)
	os.WriteFile(filepath.Join(dir, "master.cf"), []byte(fmt.Sprintf(`127.0.0.1:%s inet n - n - - smtpd
127.0.0.1:%s inet n - n - - smtpd
  -o content_filter=
  -o receive_override_options=no_header_body_checks,no_unknown_recipient_checks
  -o mynetworks=127.0.0.0/8
smtp-amavis unix - - n - 2 smtp
  -o smtp_data_done_timeout=1200
`, mx, reinject)), 0o644)
	p := &relaydProcess{ports: []string{mx, reinject},
		args: []string{bin, "-config", cfg, "-queue", filepath.Join(dir, "q"), "-dns", noDNS}}
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		p.stop()
		if t.Failed() {
			t.Logf("mxrelayd's last stderr:\n%s", p.errs)
		}
	}()

	// The messages sent one after the other: at a kill, one message is
	// between the filter and mxrelayd.
	const n = 12
	// Where mxrelayd is killed: before the filter reinjects the message,
	// or after the reinjection and before the filter's 250 (where
	// amavisd-new's window is).
	killAt := map[string]string{"m2": "before", "m5": "after", "m9": "before", "m11": "after"}
	var killed sync.Map
	ackCh := map[string]chan struct{}{}
	for id := range killAt {
		ackCh[id] = make(chan struct{})
	}
	kill := func(id, when string) {
		if killAt[id] != when {
			return
		}
		if _, done := killed.LoadOrStore(id, true); !done {
			// Kill once the message being filtered is the only one
			// queued (the tagged copy, or the last message's, delivered
			// and recorded), so that the kill interrupts one delivery,
			// the original's to the filter.
			deadline := time.Now().Add(10 * time.Second)
			for {
				_, q, _ := admin(t, "", "postqueue", "-j", "-queue", filepath.Join(dir, "q"))
				if strings.Count(strings.TrimSpace(q), "\n") == 0 && strings.Contains(q, `"queue_name":"active"`) {
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("%s: the queue does not settle:\n%s", id, q)
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			// The delivery to the filter may start before the 250
			// reaches the client: kill once the client has it.
			select {
			case <-ackCh[id]:
			case <-time.After(10 * time.Second):
				t.Errorf("%s: no 250 after the filter got it", id)
			}
			if err := p.restart(); err != nil {
				t.Errorf("restart after killing mxrelayd during %s: %v", id, err)
			}
		}
	}
	filter.beforeReinject = func(id string) { kill(id, "before") }
	filter.afterReinject = func(id string) { kill(id, "after") }
	arrived := func() map[string]int { return taggedArrivals(t, inside) }
	for i := range n {
		id := fmt.Sprintf("m%d", i)
		msg := fmt.Sprintf("From: s@sender.example\r\nTo: u@example.test\r\nSubject: %s\r\nX-Case: %s\r\n\r\nbody %s\r\n", id, id, id)
		if err := sendAcknowledged("127.0.0.1:"+mx, "s@sender.example", "u@example.test", msg); err != nil {
			t.Fatalf("%s: not acknowledged: %v", id, err)
		}
		if ch := ackCh[id]; ch != nil {
			close(ch)
		}
		// A killed delivery to the filter is made again after the
		// restart: its message arrives twice. Waiting for both keeps
		// one message in flight at each kill.
		want := 1
		if killAt[id] != "" {
			want = 2
		}
		waitFor(t, fmt.Sprintf("%s at the inside host %d times", id, want), func() bool { return arrived()[id] >= want })
	}
	// Then a burst of concurrent messages, without kills: each once.
	var wg sync.WaitGroup
	for i := range n {
		id := fmt.Sprintf("c%d", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := fmt.Sprintf("From: s@sender.example\r\nTo: u@example.test\r\nSubject: %s\r\nX-Case: %s\r\n\r\nbody %s\r\n", id, id, id)
			if err := sendAcknowledged("127.0.0.1:"+mx, "s@sender.example", "u@example.test", msg); err != nil {
				t.Errorf("%s: not acknowledged: %v", id, err)
			}
		}()
	}
	wg.Wait()
	waitFor(t, "the burst at the inside host", func() bool {
		got := arrived()
		for i := range n {
			if got[fmt.Sprintf("c%d", i)] == 0 {
				return false
			}
		}
		return true
	})
	// Let the deliveries end: every message the filter reinjected
	// reaches the inside host.
	defer func() {
		if t.Failed() {
			filter.mu.Lock()
			t.Logf("reinjected %v\narrived %v", filter.reinjected, arrived())
			filter.mu.Unlock()
		}
	}()
	waitFor(t, "every reinjected message at the inside host", func() bool {
		got := arrived()
		filter.mu.Lock()
		defer filter.mu.Unlock()
		for id, c := range filter.reinjected {
			if got[id] != c {
				return false
			}
		}
		return true
	})
	got := arrived()
	dups := 0
	for i := range 2 * n {
		id := fmt.Sprintf("m%d", i)
		if i >= n {
			id = fmt.Sprintf("c%d", i-n)
		}
		want := 1
		if killAt[id] != "" {
			want = 2 // the message killed in the filter, delivered again
		}
		if c := got[id]; c != want {
			t.Errorf("%s reached the inside host %d times, want %d (mxrelayd killed during its filtering: %q)", id, c, want, killAt[id])
		}
		dups += got[id] - 1
	}
	t.Logf("arrivals at the inside host: %v", got)
	t.Logf("%d messages, %d kills between the filter's receipt and its 250, %d duplicates at the inside host", 2*n, len(killAt), dups)
}

// sendAcknowledged sends one message and returns once the end of its
// data is answered 250: a kill that ends the connection before the QUIT
// reply does not undo the acknowledgement.
func sendAcknowledged(addr, from, to, msg string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Mail(from); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	c.Quit()
	return nil
}

// taggedArrivals counts the messages at the inside host by X-Case; one
// without the filter's X-Tag is an error.
func taggedArrivals(t *testing.T, inside *sink) map[string]int {
	got := map[string]int{}
	for _, m := range inside.messages() {
		id := headerValue([]byte(m), "X-Case")
		if headerValue([]byte(m), "X-Tag") != "scanned" {
			t.Errorf("%s reached the inside host untagged", id)
		}
		got[id]++
	}
	return got
}
