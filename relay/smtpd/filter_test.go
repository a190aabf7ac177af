package smtpd

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// smtpd_command_filter: a value replaces the command (the key has no
// leading blanks), and a lookup error ends the session with 421 4.3.0,
// never a 5xx. The replies are Postfix's (policy's TestLab, cmdfilter).
func TestCommandFilter(t *testing.T) {
	filter := func(_ context.Context, line string) (string, bool, error) {
		switch {
		case line == "HELP":
			return "NOOP", true, nil
		case strings.HasPrefix(line, "RCPT TO:<u@x.example> NOTIFY="):
			return "RCPT TO:<u@x.example>", true, nil
		case line == "BROKEN":
			return "", false, errors.New("table down")
		}
		return "", false, nil
	}
	fs, nc, r, _ := dialEngine(t, Config{CommandFilter: filter})
	replies(t, r, 1)
	io.WriteString(nc, "EHLO c.example\r\n   HELP\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<u@x.example> NOTIFY=NEVER\r\nBROKEN\r\n")
	got := replies(t, r, 5)
	want := []string{"250 CHUNKING", "250 2.0.0 Ok", "250 2.1.0 Ok", "250 2.1.5 Ok", "421 4.3.0 mx.example.net Server local data error"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, log, _ := fs.snapshot(); !strings.Contains(strings.Join(log, "\n"), "RCPT u@x.example") {
		t.Errorf("the filtered RCPT did not reach the session: %q", log)
	}
	if _, err := r.ReadString('\n'); err == nil {
		t.Error("the session goes on after the lookup error")
	}
}
