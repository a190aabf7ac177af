package relay

import (
	"context"
	"fmt"
	"net/netip"
)

// The rate limits of RateLimits, applied to a session as Postfix's smtpd
// applies anvil's answers (smtpd.c): the connection at connect, before
// the greeting; each MAIL FROM and RCPT TO before its syntax and
// restrictions (a refused command counts too); STARTTLS and each new TLS
// session. A client of RateLimits.Exempt counts nothing.

// anvilConnect counts the session's connection and refuses it past
// ConnectionRate.
func (s *session) anvilConnect() *Error {
	a := s.r.anvil
	if a.exempt(s.ctx, s.clientAddr) {
		return nil
	}
	s.anvilCounted = true
	rate := a.connect(s.clientAddr)
	if l := a.limits.ConnectionRate; l > 0 && rate > l {
		s.r.log.Warn(fmt.Sprintf("Connection rate limit exceeded: %d from %s for service smtp", rate, s.clientString()))
		return newError(421, "4.7.0", "%s Error: too many connections from %s", s.r.c.Hostname, s.clientAddr)
	}
	return nil
}

// anvilDisconnect ends what anvilConnect counted.
func (s *session) anvilDisconnect() {
	if s.anvilCounted {
		s.anvilCounted = false
		s.r.anvil.disconnect(s.clientAddr)
	}
}

// anvilMail counts a MAIL FROM command and refuses it past MessageRate.
func (s *session) anvilMail() *Error {
	return s.anvilCommand(eventMail, s.r.anvil.limits.MessageRate, "Message delivery request", "Error: too much mail from %s")
}

// anvilRcpt counts a RCPT TO command and refuses it past RecipientRate.
func (s *session) anvilRcpt() *Error {
	return s.anvilCommand(eventRcpt, s.r.anvil.limits.RecipientRate, "Recipient address", "Error: too many recipients from %s")
}

// anvilCommand counts a command; past limit it is answered 450 4.7.1
// reply (with the client's address) and logged as Postfix logs it.
func (s *session) anvilCommand(e anvilEvent, limit int, what, reply string) *Error {
	if !s.anvilCounted {
		return nil
	}
	rate := s.r.anvil.event(s.clientAddr, e)
	if limit > 0 && rate > limit {
		s.r.log.Warn(fmt.Sprintf("%s rate limit exceeded: %d from %s for service smtp", what, rate, s.clientString()))
		return newError(450, "4.7.1", reply, s.clientAddr)
	}
	return nil
}

// anvilStartTLS refuses STARTTLS to a client that has had
// NewTLSSessionRate new TLS sessions in this time unit.
func (s *session) anvilStartTLS() *Error {
	l := s.r.anvil.limits.NewTLSSessionRate
	if !s.anvilCounted || l <= 0 || s.r.anvil.rate(s.clientAddr, eventNewTLS) <= l {
		return nil
	}
	s.r.log.Warn(fmt.Sprintf("Refusing STARTTLS request from %s for service smtp", s.clientString()))
	return newError(454, "4.7.0", "Error: too many new TLS sessions from %s", s.clientString())
}

// anvilNewTLS counts a completed TLS handshake that did not resume a
// session, and ends the session past NewTLSSessionRate.
func (s *session) anvilNewTLS(resumed bool) *Error {
	l := s.r.anvil.limits.NewTLSSessionRate
	if !s.anvilCounted || l <= 0 || resumed {
		return nil
	}
	if rate := s.r.anvil.event(s.clientAddr, eventNewTLS); rate > l {
		s.r.log.Warn(fmt.Sprintf("New TLS session rate limit exceeded: %d from %s for service smtp", rate, s.clientString()))
		return newError(421, "4.7.0", "%s Error: too many new TLS sessions from %s", s.r.c.Hostname, s.clientString())
	}
	return nil
}

// countRefused counts, toward the client's connection rate, a connection
// that the per-client count limit refused before any session began, as
// Postfix's anvil counts every connection smtpd reports (anvil.c).
func (r *MX) countRefused(ctx context.Context, addr netip.Addr) {
	if r.anvil.exempt(ctx, addr) {
		return
	}
	r.anvil.connect(addr)
	r.anvil.disconnect(addr)
}
