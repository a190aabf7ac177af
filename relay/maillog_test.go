package relay

import (
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/maillog"
)

// TestExpiryPostfixLog: with maillog.Handler, mail returned after its
// queue lifetime logs as Postfix 3.7 does: each attempt's
// status=deferred line (the last one too), then qmgr's "status=expired,
// returned to sender", the bounce's "sender non-delivery notification"
// and "removed", and no per-recipient expired line.
func TestExpiryPostfixLog(t *testing.T) {
	var logs syncBuffer
	w := newWorld(t, worldOpts{
		qcfg: func(q *queue.Config) { q.Lifetimes.Maximal = 300 * time.Millisecond },
		cfg: func(c *Config) {
			c.Logger = slog.New(maillog.NewHandler(&logs, &maillog.Options{Hostname: "mx2.example.test"}))
		},
	})
	w.primary.setDown(true)
	if err := w.send("s@sender.example", []string{"u@example.test"}, "Subject: doomed\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	w.senders.wait(1)
	waitFor(t, func() bool {
		return strings.Contains(logs.String(), ": removed\n") && strings.Count(logs.String(), ": removed\n") >= 2
	})
	out := logs.String()
	id := regexp.MustCompile(`postfix/qmgr\[\d+\]: ([0-9A-F]+): from=<s@sender\.example>, status=expired, returned to sender\n`).FindStringSubmatch(out)
	if id == nil {
		t.Fatalf("no expiry line:\n%s", out)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`postfix/relay/smtp\[\d+\]: ` + id[1] + `: to=<u@example\.test>, relay=primary\.example\.test\[127\.0\.0\.2\]:25, delay=[0-9.]+, delays=[0-9.]+/[0-9.]+/0/[0-9.]+, dsn=4\.3\.2, status=deferred \(host primary\.example\.test\[127\.0\.0\.2\] said: 421 4\.3\.2 down for maintenance \(in reply to MAIL FROM command\)\)\n`),
		regexp.MustCompile(`postfix/bounce\[\d+\]: ` + id[1] + `: sender non-delivery notification: [0-9A-F]+\n`),
		regexp.MustCompile(`postfix/qmgr\[\d+\]: ` + id[1] + `: removed\n`),
	} {
		if !want.MatchString(out) {
			t.Errorf("no line matching %s", want)
		}
	}
	// The attempt that ran out of time logged its deferral: the line
	// before the expiry is a status line, not "(queue active)".
	var prev string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, id[1]+": from=<s@sender.example>, status=expired") {
			break
		}
		if strings.Contains(l, " "+id[1]+": ") {
			prev = l
		}
	}
	if !strings.Contains(prev, ", status=deferred (") {
		t.Errorf("the last attempt logged no status line; the line before the expiry: %q", prev)
	}
	if strings.Contains(out, "status=expired (") {
		t.Errorf("a per-recipient expired line, which Postfix does not write:\n%s", out)
	}
	if t.Failed() {
		t.Logf("log:\n%s", out)
	}
}
