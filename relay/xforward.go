package relay

import (
	"fmt"
	"log/slog"
	"strconv"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/maillog"
	"github.com/mxrelay/mxrelay/transport/client"
)

// queueClient describes the session's client for the queue, as Postfix's
// smtpd records the client attributes in the queue file: the name when
// it was verified ("unknown" is no name), the address, port, HELO name,
// protocol, and the rewriting context (LOCAL for a client of
// local_header_rewrite_clients, else REMOTE). After XFORWARD the client
// is the forwarded one, its unknown attributes left empty, as smtpd.c's
// FORWARD_NAME and the others give it (the SOURCE alone may be forwarded
// without the client).
func (s *session) queueClient() queue.Client {
	c := queue.Client{Helo: s.helo, Proto: s.protocol(), Source: "REMOTE"}
	if f := s.forward; f != nil && f.Client {
		c = queue.Client{Name: f.Name, Port: f.Port, Helo: f.Helo, Proto: f.Proto}
		if f.Addr.IsValid() {
			c.Addr = f.Addr.String()
		}
	} else {
		if s.names.Name != "unknown" {
			c.Name = s.names.Name
		}
		if s.clientAddr.IsValid() {
			c.Addr = s.clientAddr.String()
			c.Port = strconv.Itoa(s.clientPort)
		}
	}
	c.Source = "REMOTE"
	if s.localRewrite() {
		c.Source = "LOCAL"
	}
	if s.forward != nil {
		c.Ident = s.forward.Ident
	}
	return c
}

// localRewrite reports whether cleanup rewrites the message's headers in
// the local context: the XFORWARD SOURCE when one was forwarded, else
// whether the client is one of local_header_rewrite_clients (smtpd.c's
// FORWARD_DOMAIN).
func (s *session) localRewrite() bool {
	if f := s.forward; f != nil && f.Source != "" {
		return f.Source == "LOCAL"
	}
	return s.r.c.Cleanup.RewritesHeaders(s.ctx, s.clientAddr)
}

// xforwardAllowed reports whether the client is one of
// smtpd_authorized_xforward_hosts. When the list cannot be read the
// session ends with "421 4.3.0 HOSTNAME Server local data error", as
// smtpd.c's cant_permit_command ends it (at connect here, where Postfix
// waits for EHLO or XFORWARD): a filter refused XFORWARD would queue
// mail under the wrong client, one told to come back does not.
func (s *session) xforwardAllowed() (bool, *Error) {
	if s.r.c.XForwardHosts == nil {
		return false, nil
	}
	ok, err := s.r.c.XForwardHosts.MatchClient(s.ctx, s.clientAddr, s.names.Name)
	if err != nil {
		s.r.log.Warn(fmt.Sprintf("don't know if command XFORWARD should be allowed from %s: smtpd_authorized_xforward_hosts: %v", s.clientString(), err))
		return false, &Error{Code: 421, Status: "4.3.0", Message: s.r.c.Hostname + " Server local data error", Err: err}
	}
	return ok, nil
}

// logClientLine logs smtpd's "client=" line, after attrs (the queue ID
// when there is one), with orig_queue_id= and orig_client= for what
// XFORWARD forwarded.
func (s *session) logClientLine(attrs ...any) {
	attrs = append(attrs, maillog.KeyClient, s.clientString())
	if f := s.forward; f != nil {
		if f.Ident != "" {
			attrs = append(attrs, slog.String(maillog.KeyOrigQueueID, f.Ident))
		}
		if f.Client {
			attrs = append(attrs, slog.String(maillog.KeyOrigClient, f.NameAddr()))
		}
	}
	s.r.log.Info(maillog.Client, attrs...)
}

// xforward returns the XFORWARD attributes of a queued message: its
// client, and as IDENT the up-stream queue ID it was forwarded with, else
// its own queue ID (smtpd.c's FORWARD_IDENT). Nil for a message whose
// client is not known (queued before the queue kept it); the client then
// sends no XFORWARD.
func xforward(env *queue.Envelope) *client.XForward {
	c := env.Client
	if c == (queue.Client{}) {
		return nil
	}
	ident := c.Ident
	if ident == "" {
		ident = string(env.ID)
	}
	return &client.XForward{Name: c.Name, Addr: c.Addr, Port: c.Port, Proto: c.Proto, Helo: c.Helo,
		Ident: ident, Source: c.Source}
}
