package maincf

import (
	"os"
	"path/filepath"
	"testing"
)

// SMTPDProcessLimit reads master.cf's maxproc for the smtpd services on
// port 25 (inet "smtp", "25", "host:smtp", and the "smtpd pass" behind
// postscreen), summed; "-" or "0" on any of them, or no such service,
// gives 0 (the caller's default). Submission and other commands do not
// count.
func TestSMTPDProcessLimit(t *testing.T) {
	for _, c := range []struct {
		name, master string
		want         int
	}{
		{"debian default", "smtp      inet  n       -       y       -       -       smtpd\n", 0},
		{"numeric", "smtp      inet  n       -       y       -       150     smtpd\n", 150},
		{"no limit", "smtp inet n - y - 0 smtpd\n", 0},
		{"two listeners", "192.0.2.1:smtp inet n - y - 20 smtpd\n[2001:db8::1]:25 inet n - y - 30 smtpd\n", 50},
		{"one listener unlimited", "192.0.2.1:smtp inet n - y - 20 smtpd\n192.0.2.2:25 inet n - y - - smtpd\n", 0},
		{"postscreen", "smtp inet n - y - 1 postscreen\nsmtpd pass - - y - 40 smtpd\n  -o smtpd_tls_security_level=may\ndnsblog unix - - y - 0 dnsblog\n", 40},
		{"submission only", "submission inet n - y - 10 smtpd\n  -o syslog_name=postfix/submission\n", 0},
		{"comments and continuation", "# smtp inet n - y - 5 smtpd\nsmtp inet n - y -\n  7 smtpd\n\n  # -o smtpd_client_connection_count_limit=3\n  -o smtpd_client_restrictions=$mua_client_restrictions\n", 7},
		{"lmtp on 25 is not smtpd", "25 inet n - y - 9 lmtp\n", 0},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "main.cf"), []byte("compatibility_level = 3.6\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "master.cf"), []byte(c.master), 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := Load(filepath.Join(dir, "main.cf"))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := f.SMTPDProcessLimit(); got != c.want {
			t.Errorf("%s: SMTPDProcessLimit() = %d, want %d", c.name, got, c.want)
		}
	}
	if got := (&File{}).SMTPDProcessLimit(); got != 0 {
		t.Errorf("no master.cf: %d, want 0", got)
	}
}
