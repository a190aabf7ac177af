package main

import (
	"fmt"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/transport/dnstest"
)

// actionCase is one session of testdata/postfix-lab/rcpt/actions.json:
// EHLO client.test, MAIL FROM, one RCPT TO, QUIT; or EHLO and steps.
type actionCase struct {
	id, client, mail, rcpt string
	steps                  []string
}

var actionCases = []actionCase{
	{"hold", "127.0.0.2", "s@sender.test", "hold@b.test", nil},
	{"hold_text", "127.0.0.2", "s@sender.test", "holdtext@b.test", nil},
	{"discard", "127.0.0.2", "s@sender.test", "discard@b.test", nil},
	{"warn", "127.0.0.2", "s@sender.test", "warn@b.test", nil},
	{"info", "127.0.0.2", "s@sender.test", "info@b.test", nil},
	{"reject_warning", "127.0.0.2", "s@sender.test", "u@elsewhere.test", nil},
	{"hold_sender", "127.0.0.2", "held-sender@sender.test", "u@b.test", nil},
	{"hold_client", "127.0.0.3", "s@sender.test", "u@b.test", nil},
	{"non_smtp", "127.0.0.2", "", "", []string{"GET / HTTP/1.1"}},
	{"unknown_then_quit", "127.0.0.2", "", "", []string{"FOO bar", "NOOP", "QUIT"}},
}

// TestPostfixActionLines: the lines of access actions (HOLD, DISCARD,
// WARN, INFO) and of warn_if_reject match Postfix 3.7.11's for the same
// sessions (testdata/postfix-lab/actions.maillog), which pflogsumm counts
// as held, discarded and reject warnings.
func TestPostfixActionLines(t *testing.T) {
	ours := runActionTraffic(t)
	var names []string
	for _, c := range actionCases {
		names = append(names, c.id)
	}
	comparePostfixLogs(t, readLines(t, "testdata/postfix-lab/actions.maillog"), ours, names)
}

// runActionTraffic runs the sessions of actionCases through mxrelayd
// configured as the lab's Postfix was, and returns its log lines.
func runActionTraffic(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"access":  "hold@b.test HOLD\nholdtext@b.test HOLD quarantined for review\ndiscard@b.test DISCARD\nwarn@b.test WARN looks odd\ninfo@b.test INFO noted\n",
		"senders": "held-sender@sender.test HOLD\n",
		"clients": "127.0.0.3 HOLD\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cf := strings.ReplaceAll(labMainCF, "relay_domains = b.test, c.test\n", "relay_domains = b.test\n")
	cf = strings.ReplaceAll(cf, "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n",
		"smtpd_relay_restrictions = permit_mynetworks, warn_if_reject, reject_unauth_destination, reject_unauth_destination\n")
	cf += fmt.Sprintf("smtpd_recipient_restrictions = check_recipient_access hash:%[1]s/access, check_sender_access hash:%[1]s/senders, check_client_access hash:%[1]s/clients\n", dir)
	cfg := filepath.Join(dir, "main.cf")
	if err := os.WriteFile(cfg, []byte(cf), 0o644); err != nil {
		t.Fatal(err)
	}
	zone, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer zone.Close()
	if err := zone.AddZone("$ORIGIN 0.0.127.in-addr.arpa.\n1 300 IN PTR localhost.\n$ORIGIN localhost.\n@ 300 IN A 127.0.0.1\n"); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "maillog")
	d := start(t, "-config", cfg, "-listen", "127.0.0.1:0", "-queue", filepath.Join(dir, "q"), "-dns", zone.Addr(),
		"-log-format", "postfix", "-log-output", logPath)
	disconnects := func() int { return strings.Count(strings.Join(readLines(t, logPath), "\n"), " disconnect from ") }
	probe, err := net.Dial("tcp", d.addr)
	if err != nil {
		t.Fatal(err)
	}
	probe.Close()
	waitFor(t, "the probe's disconnect", func() bool { return disconnects() == 1 })
	for i, c := range actionCases {
		rcptSession(t, d.addr, c)
		waitFor(t, c.id+"'s disconnect", func() bool { return disconnects() == i+2 })
	}
	d.stop()
	return readLines(t, logPath)
}

// rcptSession is the lab's RCPT probe: EHLO, MAIL, RCPT, QUIT.
func rcptSession(t *testing.T, addr string, c actionCase) {
	t.Helper()
	dl := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(c.client)}, Timeout: 10 * time.Second}
	nc, err := dl.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	tp := textproto.NewConn(nc)
	cmds := []string{"", "EHLO client.test", "MAIL FROM:<" + c.mail + ">", "RCPT TO:<" + c.rcpt + ">", "QUIT"}
	if c.steps != nil {
		cmds = append([]string{"", "EHLO client.test"}, c.steps...)
	}
	for _, cmd := range cmds {
		if cmd != "" {
			if err := tp.PrintfLine("%s", cmd); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := tp.ReadResponse(0); err != nil {
			t.Fatalf("%s: %s: %v", c.id, cmd, err)
		}
	}
}
