package smtpd

import (
	"bufio"
	"strconv"
	"strings"
)

// Reply is one SMTP reply: a code, an RFC 3463 enhanced status code and a
// text, which may have several lines ("\n" separates them; each is sent
// as its own "CODE-" line, the last as "CODE "). A *Reply is also an
// error, so that a Session can return a refusal as one.
type Reply struct {
	Code     int    // 220..554
	Enhanced string // "2.1.0"; empty for replies that carry none (the greeting, EHLO)
	Text     string
}

// Error returns the reply as it is sent, on one line.
func (r *Reply) Error() string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(r.Code))
	if r.Enhanced != "" {
		b.WriteByte(' ')
		b.WriteString(r.Enhanced)
	}
	if r.Text != "" {
		b.WriteByte(' ')
		b.WriteString(strings.ReplaceAll(r.Text, "\n", " "))
	}
	return b.String()
}

// Temporary reports whether the reply is a 4xx one.
func (r *Reply) Temporary() bool { return r.Code/100 == 4 }

// Failed reports whether the reply refuses the command (4xx or 5xx): the
// error counters of smtpd_soft_error_limit and smtpd_hard_error_limit
// count these, as Postfix's smtpd_chat.c does.
func (r *Reply) Failed() bool { return r.Code >= 400 }

// write sends the reply, one "CODE-" line for each line but the last.
// Each line carries the enhanced code, as Postfix's smtpd_chat_reply
// repeats it.
func (r *Reply) write(w *bufio.Writer) {
	lines := strings.Split(r.Text, "\n")
	for i, l := range lines {
		w.WriteString(strconv.Itoa(r.Code))
		if i < len(lines)-1 {
			w.WriteByte('-')
		} else {
			w.WriteByte(' ')
		}
		if r.Enhanced != "" {
			w.WriteString(r.Enhanced)
			if l != "" {
				w.WriteByte(' ')
			}
		}
		writeSafe(w, l)
		w.WriteString("\r\n")
	}
}

func reply(code int, enhanced, text string) *Reply {
	return &Reply{Code: code, Enhanced: enhanced, Text: text}
}

// writeSafe writes a reply line with control characters as "?": a reply
// may echo what the client sent (VRFY, an unsupported option), and a CR
// there must not end the line early.
func writeSafe(w *bufio.Writer, s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == 0x7f {
			w.WriteByte('?')
		} else {
			w.WriteByte(c)
		}
	}
}
