package relay

import (
	"bytes"
)

// beforeWrite runs before each write to a Server's connection, with the
// reply go-smtp wrote. From the 354 reply, before the client can see it,
// the session is busy with a message. Replies to NOOP, RSET and VRFY
// count junk commands: past JunkCommandLimit each is an error, and
// at the hard limit the session answers 421 and hangs up instead of the
// reply (beforeWrite then reports true).
func (s *session) beforeWrite(p []byte) (hungUp bool) {
	if bytes.HasPrefix(p, []byte("354 ")) {
		s.mu.Lock()
		s.inData = true
		s.mu.Unlock()
		return false
	}
	if !isJunkReply(p) {
		return false
	}
	s.mu.Lock()
	s.junk++
	over := s.junk > s.r.c.JunkCommandLimit
	s.mu.Unlock()
	if !over {
		return false
	}
	if s.errorGate() != nil {
		return true
	}
	s.countError()
	return false
}

// isJunkReply reports whether p is go-smtp's reply to NOOP, RSET or VRFY.
func isJunkReply(p []byte) bool {
	for _, r := range [...]string{"250 2.0.0 I have successfully done nothing\r\n", "250 2.0.0 Session reset\r\n", "252 2.5.0 Cannot VRFY user, but will accept message\r\n"} {
		if string(p) == r {
			return true
		}
	}
	return false
}

// afterWrite runs after each write to a Server's connection: once the
// reply to the end of data is out the transfer is over, and a session
// told to shut down meanwhile closes.
func (s *session) afterWrite(p []byte) {
	s.mu.Lock()
	if !s.replyPending {
		s.mu.Unlock()
		return
	}
	s.replyPending, s.inData = false, false
	closing := s.closing
	s.mu.Unlock()
	if closing {
		_ = s.sc.Close()
	}
}
