package smtpd

import (
	"context"
)

func (c *conn) dataCmd(ctx context.Context, arg string) *Reply {
	if c.bdatDiscard {
		return reply(503, "5.5.1", "Error: DATA after BDAT")
	}
	if r := c.needRecipients(); r != nil {
		return r
	}
	if arg != "" {
		return reply(501, "5.5.4", "Syntax: DATA")
	}
	if r := c.sess.Data(ctx); r != nil && r.Failed() {
		return r
	}
	c.send(reply(354, "", "End data with <CR><LF>.<CR><LF>"))
	if err := c.flush(); err != nil {
		c.quit = true
		return nil
	}
	d := newDotReader(c.r)
	r := c.sess.Message(ctx, d)
	if err := d.drain(); err != nil {
		// The client went away or timed out inside DATA: nothing was
		// accepted, whatever the Session said.
		c.resetTransaction(ctx)
		c.quit = true
		c.failed = true
		if isTimeout(err) {
			c.send(reply(421, "4.4.2", c.cfg.Hostname+" Error: timeout exceeded"))
		}
		return nil
	}
	c.resetTransaction(ctx)
	c.client.Commands.Last = "END-OF-MESSAGE"
	if r == nil {
		r = reply(250, "2.0.0", "Ok")
	}
	c.delivered(r)
	return r
}

// delivered forgives the errors and junk commands of a session once a
// message is accepted, as Postfix's smtpd does.
func (c *conn) delivered(r *Reply) {
	if r.Code/100 == 2 {
		c.junk, c.errors = 0, 0
	}
}

// needRecipients refuses DATA and BDAT outside a transaction with an
// accepted recipient, with Postfix's replies.
func (c *conn) needRecipients() *Reply {
	switch {
	case !c.mail:
		return reply(503, "5.5.1", "Error: need RCPT command")
	case c.rcpts == 0:
		return reply(554, "5.5.1", "Error: no valid recipients")
	}
	return nil
}
