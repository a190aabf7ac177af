package daemon

import (
	"bufio"
	"fmt"
	"net"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// rawSession is an SMTP client session driven command by command.
type rawSession struct {
	c  net.Conn
	br *bufio.Reader
}

func dialSMTP(t *testing.T, addr string) (*rawSession, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s := &rawSession{c: c, br: bufio.NewReader(c)}
	return s, s.reply(t)
}

func (s *rawSession) reply(t *testing.T) string {
	t.Helper()
	s.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	var all []string
	for {
		line, err := s.br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading a reply: %v (so far %q)", err, all)
		}
		all = append(all, strings.TrimRight(line, "\r\n"))
		if len(line) < 4 || line[3] != '-' {
			return strings.Join(all, "\n")
		}
	}
}

func (s *rawSession) cmd(t *testing.T, line string) string {
	t.Helper()
	if _, err := fmt.Fprintf(s.c, "%s\r\n", line); err != nil {
		t.Fatal(err)
	}
	return s.reply(t)
}

// TestReload changes main.cf and a table under load and reloads, by the
// signal's channel and by "mxrelayd reload": a session in progress
// finishes on the old configuration, new sessions follow the new one,
// no message answered 250 is lost, and a broken main.cf keeps the
// running configuration.
func TestReload(t *testing.T) {
	primary := startSink(t, "127.0.0.1:0")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "main.cf")
	rcpts := filepath.Join(dir, "recipients")
	mainCF := func(banner string) string {
		return fmt.Sprintf(`compatibility_level = 3.6
myhostname = mx2.example.test
mynetworks =
relay_domains = example.test
relay_recipient_maps = texthash:%s
relay_transport = relay:[127.0.0.1]:%s
smtpd_banner = $myhostname ESMTP %s
`, rcpts, portOf(primary.addr), banner)
	}
	os.WriteFile(rcpts, []byte("alice@example.test OK\nload@example.test OK\n"), 0o644)
	os.WriteFile(cfg, []byte(mainCF("first")), 0o644)
	qdir := filepath.Join(dir, "q")
	reload := make(chan struct{})
	d := startWith(t, &hooks{reload: reload}, "-config", cfg, "-queue", qdir, "-listen", "127.0.0.1:0", "-dns", noDNS)

	// Load: a steady stream of messages during every reload.
	var sent atomic.Int32
	stopLoad := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stopLoad:
				return
			default:
			}
			err := smtp.SendMail(d.addr, nil, "you@sender.example", []string{"load@example.test"}, []byte(fmt.Sprintf("Subject: load %d\r\n\r\nx\r\n", i)))
			if err != nil {
				t.Errorf("message %d under reload: %v", i, err)
				return
			}
			sent.Add(1)
		}
	}()

	// A session in progress on the first configuration.
	old, banner := dialSMTP(t, d.addr)
	if !strings.Contains(banner, "ESMTP first") {
		t.Fatalf("banner %q", banner)
	}
	old.cmd(t, "EHLO client.example")
	if r := old.cmd(t, "MAIL FROM:<you@sender.example>"); !strings.HasPrefix(r, "250") {
		t.Fatalf("MAIL: %q", r)
	}
	if r := old.cmd(t, "RCPT TO:<bob@example.test>"); !strings.HasPrefix(r, "550 5.1.1") {
		t.Fatalf("bob before the reload: %q", r)
	}

	// New configuration: another banner, bob in the table.
	os.WriteFile(rcpts, []byte("alice@example.test OK\nbob@example.test OK\nload@example.test OK\n"), 0o644)
	os.WriteFile(cfg, []byte(mainCF("second")), 0o644)
	reload <- struct{}{}
	waitFor(t, "the reload", func() bool { return strings.Contains(d.errs.String(), "reloaded the configuration") })

	// The old session goes on, on the old configuration.
	if r := old.cmd(t, "RCPT TO:<bob@example.test>"); !strings.HasPrefix(r, "550 5.1.1") {
		t.Errorf("the old session follows the new table: %q", r)
	}
	if r := old.cmd(t, "RCPT TO:<alice@example.test>"); !strings.HasPrefix(r, "250") {
		t.Fatalf("RCPT alice in the old session: %q", r)
	}
	old.cmd(t, "DATA")
	if r := old.cmd(t, "Subject: old session\r\n\r\nfinished\r\n."); !strings.HasPrefix(r, "250") {
		t.Fatalf("end of data in the old session: %q", r)
	}
	old.cmd(t, "QUIT")

	// New sessions follow the new configuration.
	s2, banner := dialSMTP(t, d.addr)
	if !strings.Contains(banner, "ESMTP second") {
		t.Errorf("banner after the reload %q", banner)
	}
	s2.cmd(t, "EHLO client.example")
	s2.cmd(t, "MAIL FROM:<you@sender.example>")
	if r := s2.cmd(t, "RCPT TO:<bob@example.test>"); !strings.HasPrefix(r, "250") {
		t.Errorf("bob after the reload: %q", r)
	}
	s2.cmd(t, "QUIT")

	// A broken main.cf keeps the running configuration.
	os.WriteFile(cfg, []byte(mainCF("third")+"relay_recipient_maps = hash:/nonexistent/table\n"), 0o644)
	if code, _, errs := admin(t, "", "reload", "-queue", qdir); code == 0 || !strings.Contains(errs, "/nonexistent/table") {
		t.Errorf("mxrelayd reload of a broken main.cf: exit %d %q", code, errs)
	}
	s3, banner := dialSMTP(t, d.addr)
	if !strings.Contains(banner, "ESMTP second") {
		t.Errorf("banner after a failed reload %q", banner)
	}
	s3.cmd(t, "QUIT")
	// And a good one by the control socket.
	os.WriteFile(cfg, []byte(mainCF("fourth")), 0o644)
	if code, _, errs := admin(t, "", "reload", "-queue", qdir); code != 0 {
		t.Errorf("mxrelayd reload: exit %d %q", code, errs)
	}
	s4, banner := dialSMTP(t, d.addr)
	if !strings.Contains(banner, "ESMTP fourth") {
		t.Errorf("banner after mxrelayd reload %q", banner)
	}
	s4.cmd(t, "QUIT")

	// The load ran across the reloads: wait for a few of its messages
	// rather than count on the machine's speed.
	waitFor(t, "three messages of load", func() bool { return sent.Load() >= 3 })
	close(stopLoad)
	wg.Wait()
	want := int(sent.Load()) + 1 // the load, and the old session's message
	defer func() {
		if t.Failed() {
			_, out, _ := admin(t, "", "postqueue", "-j", "-queue", qdir)
			t.Logf("queue:\n%s", out)
		}
	}()
	waitFor(t, fmt.Sprintf("%d messages at the primary (%d now)", want, len(primary.messages())), func() bool { return len(primary.messages()) >= want })
	if n := len(primary.messages()); n != want {
		t.Errorf("primary got %d messages, want %d", n, want)
	}
}

// kill -HUP reloads a running mxrelayd process; it does not end it.
func TestSIGHUPReloads(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "mxrelayd")
	if out, err := exec.Command("go", "build", "-o", bin, "..").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cfg := filepath.Join(dir, "main.cf")
	os.WriteFile(cfg, []byte("compatibility_level = 3.6\nmyhostname = mx2.example.test\nmynetworks =\nrelay_domains = example.test\nrelay_recipient_maps = inline:{ a@example.test=OK }\n"), 0o644)
	var errs output
	cmd := exec.Command(bin, "-config", cfg, "-queue", filepath.Join(dir, "q"), "-listen", "127.0.0.1:0", "-dns", noDNS)
	cmd.Stderr = &errs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer cmd.Process.Kill()
	// The control socket appears once the server runs.
	waitFor(t, "the start", func() bool {
		_, err := os.Stat(filepath.Join(dir, "q", controlSocket))
		return err == nil
	})
	cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the reload", func() bool { return strings.Contains(errs.String(), "reloaded the configuration") })
	select {
	case err := <-exited:
		t.Fatalf("mxrelayd ended after SIGHUP: %v\n%s", err, errs.String())
	case <-time.After(200 * time.Millisecond):
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, errs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("mxrelayd did not stop after SIGTERM")
	}
}
