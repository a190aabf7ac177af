package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// admin runs "mxrelayd NAME ARGS..." as an admin would, with stdin.
func admin(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errs output
	code = run(context.Background(), args, &out, &errs, &hooks{stdin: strings.NewReader(stdin)})
	return code, out.String(), errs.String()
}

// TestQueueTools drives every queue tool against a running mxrelayd with
// deferred and held mail, then with the daemon stopped.
func TestQueueTools(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	primaryAddr := l.Addr().String()
	l.Close() // the primary is down: mail is deferred
	dir := t.TempDir()
	cfg := filepath.Join(dir, "main.cf")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`compatibility_level = 3.6
myhostname = mx2.example.test
mynetworks =
relay_domains = example.test
relay_recipient_maps = inline:{ alice@example.test=OK, bob@example.test=OK }
relay_transport = relay:[127.0.0.1]:%s
queue_directory = %s
minimal_backoff_time = 1h
maximal_backoff_time = 1h
`, portOf(primaryAddr), dir)), 0o644)
	status := filepath.Join(dir, "status.jsonl")
	// No -queue: the queue is under queue_directory.
	d := start(t, "-config", cfg, "-listen", "127.0.0.1:0", "-status-log", status, "-dns", noDNS)
	qdir := filepath.Join(dir, queueSubdir)
	if _, err := os.Stat(filepath.Join(qdir, controlSocket)); err != nil {
		t.Fatalf("no control socket in $queue_directory/%s: %v", queueSubdir, err)
	}
	for _, rcpt := range []string{"alice@example.test", "bob@example.test"} {
		if err := smtp.SendMail(d.addr, nil, "you@sender.example", []string{rcpt}, []byte("Subject: queued for "+rcpt+"\r\n\r\nbody\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	// The second is deferred on the spot: its destination is suspended.
	waitFor(t, "two deferred messages", func() bool {
		_, out, _ := admin(t, "", "postqueue", "-j", "-config", cfg)
		return strings.Count(out, `"queue_name":"deferred"`) == 2
	})

	// mailq: both messages, deferred, with the reason.
	code, out, errs := admin(t, "", "mailq", "-config", cfg)
	if code != 0 || strings.Count(out, "you@sender.example") != 2 || !strings.Contains(out, "(connect to 127.0.0.1[127.0.0.1]:") ||
		!strings.Contains(out, "alice@example.test") || !strings.HasSuffix(out, " Kbytes in 2 Requests.\n") {
		t.Fatalf("mailq exit %d:\n%s\n%s", code, out, errs)
	}
	// postqueue -j: one JSON object per message.
	code, out, _ = admin(t, "", "postqueue", "-j", "-queue", qdir)
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m struct {
			QueueName string `json:"queue_name"`
			QueueID   string `json:"queue_id"`
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil || m.QueueName != "deferred" {
			t.Fatalf("postqueue -j line %q: %v", line, err)
		}
		ids = append(ids, m.QueueID)
	}
	if code != 0 || len(ids) != 2 {
		t.Fatalf("postqueue -j exit %d: %q", code, out)
	}
	// postsuper -h ALL, then -H from standard input.
	if code, _, errs := admin(t, "", "postsuper", "-h", "ALL", "-queue", qdir); code != 0 || !strings.Contains(errs, "postsuper: Placed on hold: 2 messages") {
		t.Fatalf("postsuper -h ALL: %d %q", code, errs)
	}
	if _, out, _ := admin(t, "", "mailq", "-queue", qdir); strings.Count(out, "!") != 2 {
		t.Fatalf("held messages not marked:\n%s", out)
	}
	if code, _, errs := admin(t, ids[0]+"\n", "postsuper", "-H", "-", "-queue", qdir); code != 0 || !strings.Contains(errs, "Released from hold: 1 message\n") {
		t.Fatalf("postsuper -H -: %d %q", code, errs)
	}
	// postqueue -f, -s, -i and postsuper -r run without error.
	for _, args := range [][]string{{"postqueue", "-f"}, {"postqueue", "-s", "example.test"}, {"postqueue", "-i", ids[0]}, {"postsuper", "-r", ids[1]}} {
		if code, _, errs := admin(t, "", append(args, "-queue", qdir)...); code != 0 {
			t.Errorf("%v: %d %s", args, code, errs)
		}
	}
	// postcat -q shows the envelope and the content.
	code, out, errs = admin(t, "", "postcat", "-q", ids[1], "-queue", qdir)
	if code != 0 || !strings.Contains(out, "*** ENVELOPE RECORDS ") || !strings.Contains(out, "sender: you@sender.example") ||
		!strings.Contains(out, "Subject: queued for") {
		t.Fatalf("postcat -q: %d\n%s\n%s", code, out, errs)
	}
	// postsuper -d one, then stop the daemon: the tools open the queue.
	if code, _, errs := admin(t, "", "postsuper", "-d", ids[0], "-queue", qdir); code != 0 || !strings.Contains(errs, "Deleted: 1 message\n") {
		t.Fatalf("postsuper -d: %d %q", code, errs)
	}
	if code := d.stop(); code != 0 {
		t.Fatalf("stop: %d", code)
	}
	code, out, errs = admin(t, "", "mailq", "-queue", qdir)
	if code != 0 || strings.Count(out, "you@sender.example") != 1 || !strings.Contains(out, ids[1]) {
		t.Fatalf("mailq on a stopped queue: %d\n%s\n%s", code, out, errs)
	}
	if code, _, errs := admin(t, "", "postsuper", "-d", "ALL", "-queue", qdir); code != 0 || !strings.Contains(errs, "Deleted: 1 message") {
		t.Fatalf("postsuper -d ALL on a stopped queue: %d %q", code, errs)
	}
	if _, out, _ := admin(t, "", "mailq", "-queue", qdir); out != "Mail queue is empty\n" {
		t.Fatalf("mailq after delete: %q", out)
	}
	if code, _, errs := admin(t, "", "mailq", "-queue", filepath.Join(dir, "nonexistent")); code == 0 || !strings.Contains(errs, "queue directory") {
		t.Errorf("a missing queue: %d %q", code, errs)
	}
}
