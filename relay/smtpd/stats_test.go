package smtpd

import "testing"

// The disconnect line's counts, as Postfix's smtpd writes them (see
// examples/mxrelayd/daemon/testdata/postfix-lab/maillog.maillog).
func TestCommandStats(t *testing.T) {
	var s CommandStats
	if got := s.String(); got != "commands=0/0" {
		t.Errorf("no command: %q", got)
	}
	for _, c := range []struct {
		verb string
		ok   bool
	}{{"EHLO", true}, {"mail", true}, {"RCPT", false}, {"RCPT", true}, {"DATA", true}, {"QUIT", true}} {
		s.count(c.verb, c.ok)
	}
	if got, want := s.String(), "ehlo=1 mail=1 rcpt=1/2 data=1 quit=1 commands=5/6"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	var u CommandStats
	u.count("FOO", false)
	u.count("HELO", true)
	u.count("STARTTLS", true)
	if got, want := u.String(), "helo=1 starttls=1 unknown=0/1 commands=2/3"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
