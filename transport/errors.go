package transport

import (
	"errors"
	"fmt"
	"strings"
)

// Error is a delivery or routing failure with the status Postfix would
// report: an SMTP reply code, an RFC 3463 enhanced status code, and a text.
// A status starting with "4" is temporary (the mail is deferred), "5" is
// permanent (the mail bounces).
type Error struct {
	Code   int    // SMTP reply code: 450/451 temporary, 550/554 permanent
	Status string // enhanced status code, "4.4.3"
	Text   string // human-readable reason, Postfix's wording where it has one
	Err    error  // underlying cause, if any
}

// Error returns "STATUS REASON".
func (e *Error) Error() string { return e.Status + " " + e.Reason() }

// Reason is the text without the status code, as Postfix logs a reason
// and writes it into a DSN (the status goes apart, in dsn= and Status:):
// Text, and the cause when Text does not already say it.
func (e *Error) Reason() string {
	if e.Err != nil && !strings.Contains(e.Text, e.Err.Error()) {
		return e.Text + ": " + e.Err.Error()
	}
	return e.Text
}

// ReasonOf is err's text as a reason: Reason for an *Error (without its
// status code), err.Error() for any other error.
func ReasonOf(err error) string {
	if e, ok := err.(*Error); ok {
		return e.Reason()
	}
	return err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether the failure is a deferral (4.x.x).
func (e *Error) Temporary() bool { return !strings.HasPrefix(e.Status, "5") }

// newError returns an *Error with a code derived from the status class:
// 450 for 4.x.x (451 for 4.3.x, the "system" class Postfix uses for table
// and configuration failures), 550 for 5.x.x (554 for 5.4.6, the loop
// detection answer).
func newError(status string, cause error, format string, args ...any) *Error {
	code := 550
	switch {
	case strings.HasPrefix(status, "4.3."):
		code = 451
	case strings.HasPrefix(status, "4"):
		code = 450
	case status == "5.4.6":
		code = 554
	}
	return &Error{Code: code, Status: status, Text: fmt.Sprintf(format, args...), Err: cause}
}

// StatusOf returns the enhanced status code of err: the Status of the first
// *Error in its chain, "4.3.0" for any other non-nil error (unknown failures
// defer, they never bounce), and "" for nil.
func StatusOf(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Status != "" {
		return e.Status
	}
	return "4.3.0"
}

// IsTemporary reports whether err is a deferral rather than a bounce. Any
// error that is not an *Error is temporary.
func IsTemporary(err error) bool {
	return err != nil && !strings.HasPrefix(StatusOf(err), "5")
}

// validStatus reports whether s is an RFC 3463 status "c.s.d" with class
// 2, 4 or 5, subject 0-999 and detail 0-999 (as Postfix dsn_valid).
func validStatus(s string) bool {
	if len(s) < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.' {
		return false
	}
	parts := strings.Split(s[2:], ".")
	if len(parts) != 2 {
		return false
	}
	for _, p := range parts {
		if len(p) < 1 || len(p) > 3 {
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
