package cleanup

import "fmt"

// Error is a message that the cleanup stage refuses to accept. Every
// refusal of Postfix's cleanup that this package makes is temporary:
// Code 451, Status "4.6.0", Message "Alias expansion error", as smtpd
// answers after cleanup_map1n.c refused an expansion.
type Error struct {
	Code    int    // SMTP reply code
	Status  string // RFC 3463 enhanced status code
	Message string // the reply text the client sees
	Why     string // what happened, for the log (never sent to the client)
	Err     error  // the cause, if any
}

// Error returns "CODE STATUS MESSAGE: why: cause".
func (e *Error) Error() string {
	s := fmt.Sprintf("%d %s %s: %s", e.Code, e.Status, e.Message, e.Why)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether the client may try again: always, for the
// refusals of this package.
func (e *Error) Temporary() bool { return e.Code/100 == 4 }

// refuse logs Postfix's warning ("ID: why -- message not accepted, try
// again later") and returns the 451 4.6.0 refusal.
func (cl *Cleanup) refuse(queueID, why string, cause error) *Error {
	args := []any{"queue_id", queueID}
	if cause != nil {
		args = append(args, "err", cause)
	}
	cl.log.Warn(queueID+": "+why+" -- message not accepted, try again later", args...)
	return &Error{Code: 451, Status: "4.6.0", Message: "Alias expansion error", Why: why, Err: cause}
}
