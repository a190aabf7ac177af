package relay

import (
	"fmt"
	"time"

	"github.com/emersion/go-smtp"
)

// fail counts an error reply: past the soft limit the reply waits
// ErrorSleep.
func (s *session) fail(e *Error) error {
	s.countError()
	return e.SMTP()
}

// countError counts an error and, past the soft limit, waits
// ErrorSleep.
func (s *session) countError() {
	s.mu.Lock()
	s.errors++
	n := s.errors
	s.mu.Unlock()
	if n > s.r.c.SoftErrorLimit && s.r.c.ErrorSleep > 0 {
		t := time.NewTimer(s.r.c.ErrorSleep)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
		}
	}
}

// gate answers the command after the hard error limit with 421
// and closes the connection, as Postfix's smtpd does.
func (s *session) gate() error {
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		return s.hangUp(errShutdown)
	}
	return s.errorGate()
}

// errorGate is gate without the shutdown check, for DATA: once the 354
// is out, the message is received even when Shutdown has begun.
func (s *session) errorGate() error {
	s.mu.Lock()
	n := s.errors
	s.mu.Unlock()
	if n >= s.r.c.HardErrorLimit {
		s.r.log.Info("too many errors", "client", s.clientString(), "errors", n)
		return s.hangUp(newError(421, "4.7.0", "%s Error: too many errors", s.r.c.Hostname))
	}
	return nil
}

// hangUp sends a final reply and closes the connection. go-smtp only
// closes on QUIT, so the reply is written here directly; the error then
// returned to go-smtp goes nowhere.
func (s *session) hangUp(e *Error) error { return s.hangUpWith(e.SMTP()) }

// hangUpWith is hangUp for a reply already in go-smtp's form.
func (s *session) hangUpWith(e *smtp.SMTPError) error {
	if nc := s.conn.Conn(); nc != nil {
		_ = nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		ec := e.EnhancedCode
		fmt.Fprintf(nc, "%d %d.%d.%d %s\r\n", e.Code, ec[0], ec[1], ec[2], e.Message)
		_ = nc.Close()
	}
	return e
}
