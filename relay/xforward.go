package relay

import (
	"strconv"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/transport/client"
)

// queueClient describes the session's client for the queue, as Postfix's
// smtpd records the client attributes in the queue file: the name when
// it was verified ("unknown" is no name), the address, port, HELO name,
// protocol, and the rewriting context (LOCAL for a client of
// local_header_rewrite_clients, else REMOTE).
func (s *session) queueClient() queue.Client {
	c := queue.Client{Helo: s.helo, Proto: s.protocol(), Source: "REMOTE"}
	if s.names.Name != "unknown" {
		c.Name = s.names.Name
	}
	if s.clientAddr.IsValid() {
		c.Addr = s.clientAddr.String()
		c.Port = strconv.Itoa(s.clientPort)
	}
	if s.r.c.Cleanup.RewritesHeaders(s.ctx, s.clientAddr) {
		c.Source = "LOCAL"
	}
	return c
}

// xforward returns the XFORWARD attributes of a queued message: its
// client, and its queue ID as IDENT. Nil for a message whose client is
// not known (queued before the queue kept it); the client then sends
// no XFORWARD.
func xforward(env *queue.Envelope) *client.XForward {
	c := env.Client
	if c == (queue.Client{}) {
		return nil
	}
	return &client.XForward{Name: c.Name, Addr: c.Addr, Port: c.Port, Proto: c.Proto, Helo: c.Helo,
		Ident: string(env.ID), Source: c.Source}
}
