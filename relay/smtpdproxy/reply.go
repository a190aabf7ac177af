package smtpdproxy

import (
	"strconv"
	"strings"
)

// Reply is what the SMTP client is told: the filter's own reply, passed
// through, or one made up by the proxy client (Failure).
type Reply struct {
	// Code is the reply code of the first line.
	Code int
	// Lines are the reply's lines as the filter sent them, non-printable
	// characters censored as "?" (smtpd_proxy.c's printable()), without
	// CRLF.
	Lines []string
}

// Failure is the reply Postfix makes up when the filter cannot be
// reached, breaks the protocol, times out or answers with an unexpected
// 2xx or 3xx reply: smtpd_proxy_fake_server_reply with
// CLEANUP_STAT_PROXY (global/cleanup_strerror.c).
func Failure() Reply {
	return Reply{Code: 451, Lines: []string{"451 4.3.0 Error: queue file write error"}}
}

// String is the reply on one line, lines joined by " / ".
func (r Reply) String() string { return strings.Join(r.Lines, " / ") }

// Split returns the reply code, the enhanced status code and the text
// of each line, as a server that repeats the enhanced status code on
// every line writes them: status is the first line's RFC 3463 code when
// every line carries it, else "" (each line's text then keeps what
// follows its reply code).
func (r Reply) Split() (code int, status string, text []string) {
	text = make([]string, len(r.Lines))
	for i, l := range r.Lines {
		text[i] = afterCode(l)
	}
	if len(text) == 0 {
		return r.Code, "", []string{""}
	}
	st, _, _ := strings.Cut(text[0], " ")
	if !isStatus(st, r.Code) {
		return r.Code, "", text
	}
	for _, t := range text {
		if t != st && !strings.HasPrefix(t, st+" ") {
			return r.Code, "", text
		}
	}
	for i, t := range text {
		text[i] = strings.TrimPrefix(strings.TrimPrefix(t, st), " ")
	}
	return r.Code, st, text
}

// afterCode is a reply line without its "250-" or "250 ".
func afterCode(l string) string {
	if len(l) >= 4 {
		return l[4:]
	}
	return ""
}

// isStatus reports whether s is an enhanced status code "c.d.d" of the
// class of code.
func isStatus(s string, code int) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || parts[0] != strconv.Itoa(code/100) {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 3 {
			return false
		}
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return false
			}
		}
	}
	return true
}
