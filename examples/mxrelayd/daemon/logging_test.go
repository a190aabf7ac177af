package daemon

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// An unknown -log-format is refused before anything starts.
func TestLogFormatRefused(t *testing.T) {
	var out, errs output
	if code := run(context.Background(), []string{"-log-format", "xml"}, &out, &errs, nil); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if !strings.Contains(errs.String(), `-log-format "xml": want text, json or postfix`) {
		t.Errorf("stderr: %s", errs.String())
	}
}

// -log-format json writes the same events as JSON objects, one a line,
// with the fields of Postfix's lines.
func TestLogFormatJSON(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "log")
	lines := runLabTraffic(t, dir, labCases, nil, "-log-format", "json", "-log-output", logPath)
	var delivered bool
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q: %v", l, err)
		}
		if m["msg"] == "delivery" && m["to"] == "user@b.test" && m["status"] == "sent" && m["dsn"] == "2.0.0" &&
			m["relay"] == "mx1.b.test[127.0.0.5]:25" && m["delays"] != nil {
			delivered = true
		}
	}
	if !delivered {
		t.Errorf("no delivery record with Postfix's fields:\n%s", strings.Join(lines, "\n"))
	}
}

// -log-output syslog:PATH sends each line to the syslog socket at PATH
// as a mail-facility message, under main.cf's syslog_name.
func TestLogOutputSyslog(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "log")
	daemon, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer daemon.Close()
	got := make(chan string, 1000)
	go func() {
		buf := make([]byte, 8192)
		for {
			n, err := daemon.Read(buf)
			if err != nil {
				return
			}
			got <- string(buf[:n])
		}
	}()
	d := start(t, "-config", writeMainCF(t, dir), "-listen", "127.0.0.1:0", "-queue", filepath.Join(dir, "q"),
		"-dns", noDNS, "-log-format", "postfix", "-log-output", "syslog:"+sock)
	c, err := net.Dial("tcp", d.addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case m := <-got:
			if strings.HasPrefix(m, "<22>") && strings.Contains(m, " postfix-mx/smtpd[") && strings.HasSuffix(m, "]: connect from unknown[127.0.0.1]") {
				return
			}
		case <-deadline:
			t.Fatal("no connect line reached the syslog socket")
		}
	}
}

// writeMainCF writes a minimal configuration: a backup MX for b.test
// that trusts nobody.
func writeMainCF(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "main.cf")
	if err := os.WriteFile(p, []byte("compatibility_level = 3.6\nmyhostname = mx2.oracle.test\nmydestination =\nmynetworks =\nrelay_domains = b.test\ninet_interfaces = 127.0.0.1\nsmtpd_peername_lookup = no\nsyslog_name = postfix-mx\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
