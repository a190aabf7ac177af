package relay

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/maillog"
	"github.com/mxrelay/mxrelay/transport/dnstest"
)

// TestContentActionLogLines: the log lines of header_checks and
// body_checks actions are Postfix's (cleanup_act.c), which pflogsumm
// reads as "reject: header" and "reject: body" details. The lines were
// written by Postfix 3.7.11 in the postfix-lab for the hbc golden
// configuration (cleanup/testdata/lab/route/hbc.json), the queue IDs
// replaced by QUEUEID.
func TestContentActionLogLines(t *testing.T) {
	cases := []struct {
		subject, body string
		rcpts         []string
		want          string
	}{
		{"reject me", "", []string{"a@dest.test"}, "QUEUEID: reject: header Subject: reject me from unknown[127.0.0.2]; from=<someone@sender.test> to=<a@dest.test> proto=ESMTP helo=<inject.oracle.test>: 5.7.1 message content rejected"},
		{"reject4", "", []string{"a@dest.test"}, "QUEUEID: reject: header Subject: reject4 from unknown[127.0.0.2]; from=<someone@sender.test> to=<a@dest.test> proto=ESMTP helo=<inject.oracle.test>: 4.7.1 try again later"},
		{"discard me", "", []string{"a@dest.test"}, "QUEUEID: discard: header Subject: discard me from unknown[127.0.0.2]; from=<someone@sender.test> to=<a@dest.test> proto=ESMTP helo=<inject.oracle.test>"},
		{"redirect me", "", []string{"a@dest.test", "b@dest.test"}, "QUEUEID: redirect: header Subject: redirect me from unknown[127.0.0.2]; from=<someone@sender.test> to=<b@dest.test> proto=ESMTP helo=<inject.oracle.test>: redirected@other.test"},
		{"warn me", "", []string{"a@dest.test"}, "QUEUEID: warning: header Subject: warn me from unknown[127.0.0.2]; from=<someone@sender.test> to=<a@dest.test> proto=ESMTP helo=<inject.oracle.test>: warned"},
		{"nothing special", "X-Folded: first line\r\n\tsecond line\r\n", []string{"a@dest.test"}, "QUEUEID: reject: header X-Folded: first line??second line from unknown[127.0.0.2]; from=<someone@sender.test> to=<a@dest.test> proto=ESMTP helo=<inject.oracle.test>: 5.7.1 folded header matched"},
		{"body", "\r\nreject this body line\r\n", []string{"a@dest.test"}, "QUEUEID: reject: body reject this body line from unknown[127.0.0.2]; from=<someone@sender.test> to=<a@dest.test> proto=ESMTP helo=<inject.oracle.test>: 5.7.1 body rejected"},
	}
	_, cf := readCleanupLab(t, "cleanup/testdata/lab/route/hbc.json")
	d, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var mu sync.Mutex
	var out bytes.Buffer
	logger := maillog.NewHandler(lockedWriter{&mu, &out}, &maillog.Options{Hostname: "mx2.oracle.test"})
	ld, err := Load(context.Background(), cf, LoadOptions{Queue: queue.NewMemory(), DNS: []string{d.Addr()}, Logger: slog.New(logger),
		InterfaceAddrs: func() ([]netip.Prefix, error) { return []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer ld.Close()
	ld.Server.NoDelivery = true
	_, addr := serve(t, ld.Server)
	cleanupLine := regexp.MustCompile(`postfix/cleanup\[[0-9]+\]: ([0-9A-F]+)(: .*)$`)
	for _, c := range cases {
		conn := labDialFrom(t, addr, "127.0.0.2")
		conn.cmd(t, "EHLO inject.oracle.test")
		conn.cmd(t, "MAIL FROM:<someone@sender.test>")
		for _, r := range c.rcpts {
			conn.cmd(t, "RCPT TO:<"+r+">")
		}
		conn.cmd(t, "DATA")
		conn.cmd(t, "From: someone@sender.test\r\nSubject: "+c.subject+"\r\n"+c.body+"\r\n.")
		conn.cmd(t, "QUIT")
		mu.Lock()
		var got []string
		for _, l := range strings.Split(out.String(), "\n") {
			if m := cleanupLine.FindStringSubmatch(l); m != nil && !strings.Contains(m[2], "message-id=") {
				got = append(got, "QUEUEID"+m[2])
			}
		}
		out.Reset()
		mu.Unlock()
		if len(got) != 1 || got[0] != c.want {
			t.Errorf("Subject: %s: cleanup lines\n got  %q\n want %q (Postfix)", c.subject, got, c.want)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestMessageIDLogLines: cleanup's message-id= lines as
// cleanup_header_done_callback writes them: the Message-Id the message
// has, the one cleanup adds for a local client (Resent-Message-Id when
// the message has Resent- fields, then "message-id=<>" for the Message-Id
// it still lacks), and "<>" for a remote client's message without one.
func TestMessageIDLogLines(t *testing.T) {
	_, cf := readCleanupLab(t, "cleanup/testdata/lab/route/hdrdrop.json")
	var mu sync.Mutex
	var out bytes.Buffer
	d, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ld, err := Load(context.Background(), cf, LoadOptions{Queue: queue.NewMemory(), DNS: []string{d.Addr()},
		Logger:         slog.New(maillog.NewHandler(lockedWriter{&mu, &out}, &maillog.Options{Hostname: "mx2.oracle.test"})),
		InterfaceAddrs: func() ([]netip.Prefix, error) { return []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer ld.Close()
	ld.Server.NoDelivery = true
	_, addr := serve(t, ld.Server)
	line := regexp.MustCompile(`postfix/cleanup\[[0-9]+\]: ([0-9A-F]+): ((resent-)?message-id=.*)$`)
	for _, c := range []struct {
		client, header string
		want           []string
	}{
		{"127.0.0.1", "Subject: none\r\n", []string{"message-id=<STAMP.QUEUEID@mx2.oracle.test>"}},
		{"127.0.0.1", "Message-ID: <given@sender.test>\r\n", []string{"message-id=<given@sender.test>"}},
		{"127.0.0.1", "Resent-From: r@sender.test\r\n", []string{"resent-message-id=<STAMP.QUEUEID@mx2.oracle.test>", "message-id=<>"}},
		{"127.0.0.2", "Subject: remote\r\n", []string{"message-id=<>"}},
	} {
		conn := labDialFrom(t, addr, c.client)
		conn.cmd(t, "MAIL FROM:<someone@sender.test>")
		conn.cmd(t, "RCPT TO:<a@dest.test>")
		conn.cmd(t, "DATA")
		_, _, text := conn.cmd(t, c.header+"\r\nbody\r\n.")
		_, id, _ := strings.Cut(text, "queued as ")
		conn.cmd(t, "QUIT")
		mu.Lock()
		var got []string
		for _, l := range strings.Split(out.String(), "\n") {
			if m := line.FindStringSubmatch(l); m != nil && m[1] == id {
				got = append(got, regexp.MustCompile(`<[0-9]{14}\.`+id+`@`).ReplaceAllString(m[2], "<STAMP.QUEUEID@"))
			}
		}
		mu.Unlock()
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%s %q: cleanup lines %q, want %q (Postfix)", c.client, c.header, got, c.want)
		}
	}
}
