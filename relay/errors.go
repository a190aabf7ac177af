package relay

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/emersion/go-smtp"
)

// Error is an SMTP reply that mxrelay gives a client: a reply code, an RFC
// 3463 enhanced status code and a text, as Postfix words them. Err is the
// internal cause; it is logged, never sent to the client.
type Error struct {
	Code    int    // SMTP reply code, 421..554
	Status  string // enhanced status code, "5.3.4"
	Message string // the reply text the client sees
	Err     error  // internal cause, if any (never shown to the client)
}

// Error returns "CODE STATUS MESSAGE", with the cause when there is one.
func (e *Error) Error() string {
	s := strconv.Itoa(e.Code) + " " + e.Status + " " + e.Message
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether the client may try again (a 4xx reply).
func (e *Error) Temporary() bool { return e.Code/100 == 4 }

// SMTP returns the bare *smtp.SMTPError go-smtp sends for e.
func (e *Error) SMTP() *smtp.SMTPError {
	return &smtp.SMTPError{Code: e.Code, EnhancedCode: parseEnhanced(e.Status, e.Code), Message: e.Message}
}

// parseEnhanced parses "x.y.z"; a missing or malformed code becomes
// class.0.0 of the reply code.
func parseEnhanced(s string, code int) smtp.EnhancedCode {
	var ec smtp.EnhancedCode
	parts := strings.Split(s, ".")
	if len(parts) == 3 {
		ok := true
		for i, p := range parts {
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 || n > 999 {
				ok = false
				break
			}
			ec[i] = n
		}
		if ok && ec[0] == code/100 {
			return ec
		}
	}
	return smtp.EnhancedCode{code / 100, 0, 0}
}

func newError(code int, status, format string, args ...any) *Error {
	return &Error{Code: code, Status: status, Message: fmt.Sprintf(format, args...)}
}

// Replies mxrelay gives, worded as Postfix 3.7's smtpd.c (message size,
// hop count, recipient limit, queue file write errors, command order,
// address syntax, shutdown).
var (
	errTooBig       = newError(552, "5.3.4", "Error: message file too big")
	errTooManyHops  = newError(554, "5.4.0", "Error: too many hops")
	errBareLF       = newError(550, "5.5.2", "Error: bare <LF> received")
	errBareCR       = newError(550, "5.5.2", "Error: bare <CR> received")
	errNUL          = newError(550, "5.6.0", "Error: NUL character in message")
	errQueueWrite   = newError(451, "4.3.0", "Error: queue file write error")
	errTooManyRcpts = newError(452, "4.5.3", "Error: too many recipients")
	errSizeLimit    = newError(552, "5.3.4", "Message size exceeds fixed limit")
	errLineTooLong  = newError(552, "5.3.4", "Error: message line too long")
	errShutdown     = newError(421, "4.3.2", "Service shutting down")
	errBadSender    = newError(501, "5.1.7", "Bad sender address syntax")
	errBadRcpt      = newError(501, "5.1.3", "Bad recipient address syntax")
	errNeedRcpt     = newError(554, "5.5.1", "Error: no valid recipients")
	errNeedMail     = newError(503, "5.5.1", "Error: need MAIL command")
	errNestedMail   = newError(503, "5.5.1", "Error: nested MAIL command")
)
