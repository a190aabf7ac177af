package smtpd

import (
	"bufio"
	"context"
	"crypto/tls"
)

// starttls upgrades the connection (RFC 3207). Whatever the client sent
// after STARTTLS in the same clear-text flight is discarded, never read
// as a command of the encrypted session: commands injected by a
// man-in-the-middle before the handshake would otherwise run with the
// TLS session's trust (CVE-2011-0411). The session state is reset, as
// RFC 3207 section 4.2 requires: the client must EHLO again.
func (c *conn) starttls(ctx context.Context, arg string) *Reply {
	switch {
	case c.cfg.TLS == nil && c.cfg.RequireTLS:
		// Required but not loadable: fail closed, as Postfix does.
		return reply(454, "4.7.0", "TLS not available due to local problem")
	case c.cfg.TLS == nil || c.cfg.discarded("STARTTLS"):
		return reply(502, "5.5.1", "Error: command not implemented")
	case c.tlsReady:
		return reply(554, "5.5.1", "Error: TLS already active")
	case arg != "":
		return reply(501, "5.5.4", "Syntax: STARTTLS")
	}
	limiter, _ := c.sess.(TLSLimiter)
	if limiter != nil {
		if r := limiter.StartTLS(ctx, &c.client); r != nil {
			return r
		}
	}
	c.send(reply(220, "2.0.0", "Ready to start TLS"))
	if err := c.flush(); err != nil {
		c.quit = true
		return nil
	}
	if n := c.r.Buffered(); n > 0 {
		c.cfg.Logger.Info("discarding commands sent with STARTTLS", "client", c.client.Addr.String(), "bytes", n)
		c.r.Discard(n)
	}
	tc := tls.Server(c.nc, c.cfg.TLS)
	c.nc.SetDeadline(c.cfg.Now().Add(c.cfg.Timeout))
	if err := tc.HandshakeContext(ctx); err != nil {
		c.cfg.Logger.Info("TLS handshake failed", "client", c.client.Addr.String(), "err", err)
		c.quit = true
		return nil
	}
	c.nc = tc
	c.r = bufio.NewReaderSize(deadlineReader{c}, 4096)
	c.w = bufio.NewWriterSize(tc, 4096)
	state := tc.ConnectionState()
	if limiter != nil {
		if r := limiter.TLSStarted(ctx, &c.client, state.DidResume); r != nil {
			c.nc, c.w = tc, bufio.NewWriterSize(tc, 4096)
			c.send(r)
			c.flush()
			c.quit = true
			return nil
		}
	}
	c.tlsReady = true
	c.resetTransaction(ctx)
	c.client.TLS = &state
	c.client.Helo, c.client.ESMTP, c.client.Forwarded = "", false, nil
	return nil
}
