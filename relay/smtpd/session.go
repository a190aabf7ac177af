package smtpd

import (
	"context"
	"crypto/tls"
	"io"
	"net/netip"
)

// Client is what the engine knows of the peer of one connection. The
// engine updates it as the session goes; a Session reads it.
type Client struct {
	// Addr and Local are the client's and the server's addresses (from
	// the PROXY header when the server takes one).
	Addr, Local netip.AddrPort
	// Helo is the HELO or EHLO argument, "" before one; ESMTP is set
	// after EHLO.
	Helo  string
	ESMTP bool
	// TLS is the TLS state after STARTTLS; nil in clear text.
	TLS *tls.ConnectionState
	// IllegalPipelining names the command after which the client sent
	// more commands before it was allowed to ("HELO", "DATA"...), or ""
	// when it never did: what Postfix's reject_unauth_pipelining
	// refuses (smtpd.c SMTPD_FLAG_ILL_PIPELINING).
	IllegalPipelining string
	// Commands counts the session's commands so far, for Postfix's
	// "disconnect from" line.
	Commands CommandStats
	// Name is the client's host name for the engine's log lines, set by
	// the Backend at Connect when it looked the name up; "" is "unknown".
	Name string
	// XForward lets the client use XFORWARD (announced in EHLO), as
	// Postfix smtpd_authorized_xforward_hosts; set by the Backend at
	// Connect. Other clients are answered "550 5.7.0 Error:
	// insufficient authorization".
	XForward bool
	// Forwarded is what the client sent with XFORWARD for the current
	// mail transaction; nil when it sent nothing.
	Forwarded *Forwarded
}

// String formats the client as Postfix's logs do, "host[192.0.2.1]" or
// "unknown[192.0.2.1]".
func (c *Client) String() string {
	name := c.Name
	if name == "" {
		name = "unknown"
	}
	return name + "[" + c.Addr.Addr().String() + "]"
}

// UnknownCommander is an optional interface of a Session: Unknown is
// called with the first word of a command the engine does not know, and
// a 4xx or 5xx Reply it returns is sent instead of "500 5.5.2 Error:
// command not recognized" (what Postfix's smtpd does with its milters'
// reply to SMFIC_UNKNOWN). The command counts as an error either way.
type UnknownCommander interface {
	Unknown(ctx context.Context, verb string) *Reply
}

// Backend starts a Session for each connection.
type Backend interface {
	// Connect decides on a new connection before the greeting. A non-nil
	// Reply with a nil Session is sent instead of the greeting and the
	// connection is closed ("421 4.7.0 Error: too many connections"). A
	// non-nil Reply with a Session is the greeting, counted as an error,
	// and the session goes on: what Postfix's smtpd does when a milter
	// rejects CONNECT ("554 HOSTNAME ESMTP not accepting connections",
	// then the milter's reply to MAIL). A nil Session with a nil Reply is
	// a programming error.
	Connect(ctx context.Context, c *Client) (Session, *Reply)
}

// BackendFunc adapts a function to Backend.
type BackendFunc func(ctx context.Context, c *Client) (Session, *Reply)

// Connect calls f.
func (f BackendFunc) Connect(ctx context.Context, c *Client) (Session, *Reply) { return f(ctx, c) }

// Session decides on the commands of one SMTP session, after the engine
// has checked their syntax and order. A nil *Reply accepts with the
// standard reply (given in each method's doc); a non-nil one is sent as
// it is. The engine counts 4xx and 5xx replies against the error limits.
type Session interface {
	// Hello is called for a valid HELO or EHLO (c.Helo and c.ESMTP are
	// set). Default reply: "250 HOSTNAME" or the EHLO keyword list.
	Hello(ctx context.Context, c *Client) *Reply
	// Mail is called for a valid MAIL FROM: from is the address without
	// brackets and source route ("" for the null sender). Default reply
	// "250 2.1.0 Ok".
	Mail(ctx context.Context, from string, p MailParams) *Reply
	// Rcpt is called for a valid RCPT TO. Default "250 2.1.5 Ok".
	Rcpt(ctx context.Context, to string, p RcptParams) *Reply
	// Data is called for DATA or the first BDAT of a transaction with at
	// least one accepted recipient, before any message text is read
	// (smtpd_data_restrictions). A refusal ends the transaction's chance
	// of delivery: after BDAT, the engine reads and discards the chunks.
	Data(ctx context.Context) *Reply
	// Message reads the message text (dot-unstuffed, lines as sent, the
	// final "." not included) and returns the final reply, typically
	// "250 2.0.0 Ok: queued as ID". It must read r to its end or
	// return an error reply; what it leaves unread is discarded.
	Message(ctx context.Context, r io.Reader) *Reply
	// Reset ends the mail transaction (RSET, a new HELO/EHLO, the end of
	// DATA, STARTTLS).
	Reset(ctx context.Context)
	// Close ends the session; it is called once, whatever happened.
	Close()
}

// Verifier answers VRFY. A Session that does not implement it gets
// Postfix's answer for a recipient it cannot check: "252 2.0.0 ADDR".
type Verifier interface {
	Verify(ctx context.Context, addr string) *Reply
}

// Flusher answers ETRN (RFC 1985): deliver now the mail queued for a
// domain. A Session that does not implement it gets Postfix's answer for
// a domain it does not flush: "459 4.3.0 <DOMAIN>: service unavailable".
type Flusher interface {
	Flush(ctx context.Context, domain string) *Reply
}
