package milter

import (
	"strconv"
	"strings"
)

// Kind is what a milter decided.
type Kind int

const (
	// Continue: no decision, go on.
	Continue Kind = iota
	// Refuse: answer the command (or the message) with Reply's code and
	// text, 4xx or 5xx.
	Refuse
	// Discard: accept the message and drop it.
	Discard
	// Hold: accept the message and place it on hold (a milter's
	// quarantine, or default_action = quarantine).
	Hold
	// Shutdown: "421 4.7.0 Server closing connection" and hang up.
	Shutdown
)

// Reply is the milters' decision on an event, as Postfix's milter8.c
// words it.
type Reply struct {
	Kind Kind
	// Code, Status and Text are the SMTP reply of Refuse: 451 "4.7.1"
	// "Service unavailable - try again later", or the milter's own.
	// Text may hold several lines of a multi-line reply, each after the
	// first starting with its code ("550-5.7.1 a\r\n550 5.7.1 b" is
	// Code 550, Status 5.7.1, Text "a\r\n550 5.7.1 b").
	Code   int
	Status string
	Text   string
	// Reason is the quarantine reason of Hold.
	Reason string
	// Milter names the milter that decided, for the log.
	Milter string
}

// String is the reply as an SMTP reply line, or the decision.
func (r Reply) String() string {
	switch r.Kind {
	case Refuse:
		s := strconv.Itoa(r.Code)
		if r.Status != "" {
			s += " " + r.Status
		}
		return s + " " + r.Text
	case Discard:
		return "discard"
	case Hold:
		return "hold: " + r.Reason
	case Shutdown:
		return "421 4.7.0 Server closing connection"
	}
	return "continue"
}

var (
	replyRejected  = Reply{Kind: Refuse, Code: 550, Status: "5.7.1", Text: "Command rejected"}
	replyTempfail  = Reply{Kind: Refuse, Code: 451, Status: "4.7.1", Text: "Service unavailable - try again later"}
	replyUnavail   = Reply{Kind: Refuse, Code: 550, Status: "5.5.0", Text: "Service unavailable"}
	replyConfError = Reply{Kind: Refuse, Code: 451, Status: "4.3.5", Text: "Server configuration problem - try again later"}
	replyBodyAbort = Reply{Kind: Refuse, Code: 421, Status: "4.7.0", Text: "Service unavailable"}
)

// ParseReplyCode reads the text of a milter's SMFIR_REPLYCODE, as
// milter8.c's milter8_valid_smtp_reply checks it: one or more lines
// "ddd-..." then "ddd ...", a 4xx or 5xx code, an enhanced status code
// (optional) of the same class, lines separated by CRLF. Sendmail's "%%"
// becomes "%" and a lone "%" is dropped, as Postfix does.
func ParseReplyCode(s string) (Reply, bool) {
	s = strings.TrimSuffix(s, "\x00")
	if strings.IndexByte(s, 0) >= 0 || s == "" {
		return Reply{}, false
	}
	rest := s
	for {
		n := strings.IndexAny(rest, "\r\n")
		line, final := rest, n < 0
		if !final {
			line = rest[:n]
		}
		if len(line) < 4 || (line[0] != '4' && line[0] != '5') || !isDigit(line[1]) || !isDigit(line[2]) {
			return Reply{}, false
		}
		if final && line[3] != ' ' || !final && line[3] != '-' {
			return Reply{}, false
		}
		if len(line) > 4 && isDigit(line[4]) && line[4] != line[0] {
			return Reply{}, false
		}
		if line[:3] != s[:3] {
			return Reply{}, false // one reply, one code
		}
		if final {
			break
		}
		if !strings.HasPrefix(rest[n:], "\r\n") {
			return Reply{}, false
		}
		rest = rest[n+2:]
	}
	s = unpercent(s)
	code, _ := strconv.Atoi(s[:3])
	text := s[4:]
	r := Reply{Kind: Refuse, Code: code}
	if st, after, ok := enhanced(text); ok {
		r.Status, text = st, after
	}
	r.Text = text
	return r, true
}

// enhanced splits an RFC 3463 status code "x.y.z " off text.
func enhanced(text string) (status, rest string, ok bool) {
	end := strings.IndexAny(text, " \r\n")
	if end < 0 {
		end = len(text)
	}
	st := text[:end]
	parts := strings.Split(st, ".")
	if len(parts) != 3 {
		return "", text, false
	}
	for _, p := range parts {
		if p == "" || len(p) > 3 {
			return "", text, false
		}
		for i := 0; i < len(p); i++ {
			if !isDigit(p[i]) {
				return "", text, false
			}
		}
	}
	return st, strings.TrimPrefix(text[end:], " "), true
}

func unpercent(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '%' {
			b.WriteByte('%')
			i++
		}
	}
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
