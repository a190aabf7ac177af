package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/internal/testenv"
	"github.com/mxrelay/mxrelay/queue/postgres/internal/pgtest"
)

// banner returns the greeting of the SMTP server at addr.
func banner(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("greeting of %s: %v", addr, err)
	}
	fmt.Fprintf(c, "QUIT\r\n")
	return strings.TrimSpace(line)
}

// TestMasterCFReload: a node on the shared queue is mxrelayd: with no
// -listen it listens where the master.cf beside main.cf says, a
// service's -o overrides applying to its listener only; SIGHUP and
// "mxrelayd-pg reload -config" reload main.cf (new sessions get the new
// banner, the overridden service keeps its own); -log-format postfix
// writes Postfix's lines, -metrics serves the shared queue's metrics, and
// -check loads the configuration. Mail received on the second port is
// stored in the database and delivered.
func TestMasterCFReload(t *testing.T) {
	pre := pgtest.Prefix(t)
	hop := startNextHop(t, 0)
	cf := mainCF(t, hop.addr, 2)
	b, _ := os.ReadFile(cf)
	os.WriteFile(cf, append(b, "smtpd_banner = $myhostname ESMTP first\n"...), 0o644)
	mx, reinject, metrics := testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)
	os.WriteFile(filepath.Join(filepath.Dir(cf), "master.cf"), fmt.Appendf(nil, `127.0.0.1:%s inet n - n - - smtpd
127.0.0.1:%s inet n - n - - smtpd
  -o { smtpd_banner = $myhostname ESMTP reinjection }
pickup unix n - y 60 1 pickup
`, mx, reinject), 0o644)
	logFile := filepath.Join(t.TempDir(), "maillog")
	args := []string{"-config", cf, "-queue", dsn(t), "-prefix", pre, "-log-format", "postfix", "-log-output", logFile, "-metrics", "127.0.0.1:" + metrics}

	out, errs, err := command("-check", "-config", cf, "-queue", dsn(t), "-prefix", pre)
	if err != nil || !strings.Contains(out, "configuration OK") {
		t.Errorf("-check: %v\n%s%s", err, out, errs)
	}

	n := startNode(t, "nodea.example.test", args...)
	if strings.Join(n.addrs, " ") != "127.0.0.1:"+mx+" 127.0.0.1:"+reinject {
		t.Fatalf("listening on %q, want master.cf's ports %s and %s", n.addrs, mx, reinject)
	}
	if g := banner(t, n.addrs[0]); g != "220 nodea.example.test ESMTP first" {
		t.Errorf("banner of the MX port: %q", g)
	}
	if g := banner(t, n.addrs[1]); g != "220 nodea.example.test ESMTP reinjection" {
		t.Errorf("banner of the overridden service: %q", g)
	}
	if err := send(n.addrs[1], 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivery of mail received on the second port", 30*time.Second, func() bool { return len(hop.deliveries()) == 1 })

	// SIGHUP: new sessions follow the new main.cf; the service's -o
	// still applies on its port.
	setBanner := func(word string) {
		b, err := os.ReadFile(n.cf)
		if err != nil {
			t.Fatal(err)
		}
		s := regexp.MustCompile(`(?m)^smtpd_banner = .*$`).ReplaceAllString(string(b), "smtpd_banner = $$myhostname ESMTP "+word)
		if err := os.WriteFile(n.cf, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	setBanner("second")
	if err := n.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reload after SIGHUP", 30*time.Second, func() bool { return strings.HasSuffix(banner(t, n.addrs[0]), "ESMTP second") })
	if g := banner(t, n.addrs[1]); g != "220 nodea.example.test ESMTP reinjection" {
		t.Errorf("banner of the overridden service after the reload: %q", g)
	}
	// "reload" reaches the node through its control socket.
	setBanner("third")
	tool(t, "reload", "-config", n.cf)
	if g := banner(t, n.addrs[0]); g != "220 nodea.example.test ESMTP third" {
		t.Errorf("banner after mxrelayd-pg reload: %q", g)
	}
	if _, errs, err := command("reload", "-queue", dsn(t)); err == nil || !strings.Contains(errs, "-config") {
		t.Errorf("reload -queue URL: %v %q", err, errs)
	}
	if err := send(n.addrs[0], 2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivery after the reloads", 30*time.Second, func() bool { return len(hop.deliveries()) == 2 })

	// The node counts a delivery once the next hop's 250 is read: after
	// the next hop has it.
	var body []byte
	scrape := func() bool {
		resp, err := http.Get("http://127.0.0.1:" + metrics + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ = io.ReadAll(resp.Body)
		return strings.Contains(string(body), `mxrelay_deliveries_total{status="sent",dsn_class="2"} 2`+"\n")
	}
	waitFor(t, "two deliveries in the metrics", 30*time.Second, scrape)
	for _, want := range []string{"mxrelay_queue_up 1\n", "mxrelay_messages_accepted_total 2\n"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics: missing %q", want)
		}
	}
	var logs []byte
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m) nodea postfix/smtpd\[\d+\]: connect from `),
		regexp.MustCompile(`(?m) postfix/relay/smtp\[\d+\]: [0-9A-F]+: to=<u2@example\.test>, relay=.*status=sent`),
	} {
		waitFor(t, "a log line matching "+want.String(), 30*time.Second, func() bool {
			logs, _ = os.ReadFile(logFile)
			return want.Match(logs)
		})
	}
	if t.Failed() {
		t.Logf("metrics:\n%s\nlog:\n%s", body, logs)
	}
}
