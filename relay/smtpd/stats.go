package smtpd

import (
	"strconv"
	"strings"
)

// statNames are the commands counted for the disconnect line, in the
// order of Postfix's smtpd command table (smtpd.c smtpd_cmd_table), with
// "unknown" last for unknown and malformed commands.
var statNames = [...]string{"helo", "ehlo", "xclient", "xforward", "starttls", "auth", "mail", "rcpt",
	"data", "bdat", "rset", "noop", "vrfy", "etrn", "quit", "help", "unknown"}

// CommandStats counts a session's commands, and how many of them
// succeeded, as Postfix's smtpd does for its "disconnect from" line.
type CommandStats struct {
	ok, total [len(statNames)]int
	// Last is the last command received, upper case ("RCPT"), or
	// "CONNECT" before any; "END-OF-MESSAGE" once message text was
	// received: what Postfix's "timeout after ..." and "lost connection
	// after ..." name.
	Last string
}

// count records one command.
func (s *CommandStats) count(verb string, ok bool) {
	i := len(statNames) - 1
	for j, n := range statNames[:i] {
		if strings.EqualFold(n, verb) {
			i = j
			break
		}
	}
	s.total[i]++
	if ok {
		s.ok[i]++
	}
}

// String formats the counts as Postfix's disconnect line does
// (smtpd_format_cmd_stats): "ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4",
// each command with successes, then "/total" when some failed; the total
// always, with "/total" also when no command came ("commands=0/0").
func (s *CommandStats) String() string {
	var b []byte
	ok, total := 0, 0
	for i, n := range statNames {
		if s.total[i] == 0 {
			continue
		}
		b = append(b, n...)
		b = append(b, '=')
		b = strconv.AppendInt(b, int64(s.ok[i]), 10)
		if s.ok[i] != s.total[i] {
			b = append(b, '/')
			b = strconv.AppendInt(b, int64(s.total[i]), 10)
		}
		b = append(b, ' ')
		ok += s.ok[i]
		total += s.total[i]
	}
	b = append(b, "commands="...)
	b = strconv.AppendInt(b, int64(ok), 10)
	if ok != total || total == 0 {
		b = append(b, '/')
		b = strconv.AppendInt(b, int64(total), 10)
	}
	return string(b)
}
