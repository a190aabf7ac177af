package smtpd

import "context"

// TLSLimiter is an optional interface of a Session that limits TLS
// sessions, as Postfix's smtpd_client_new_tls_session_rate_limit.
type TLSLimiter interface {
	// StartTLS is asked before STARTTLS is answered; a reply refuses it
	// (Postfix: 454 4.7.0).
	StartTLS(ctx context.Context, c *Client) *Reply
	// TLSStarted is told of each completed handshake; a reply is sent
	// over TLS and ends the session (Postfix: 421 4.7.0).
	TLSStarted(ctx context.Context, c *Client, resumed bool) *Reply
}
