package smtpd

import (
	"context"
	"strings"
)

// command flags, as Postfix's smtpd.c command table has them.
const (
	flagJunk   = 1 << iota // counts against smtpd_junk_command_limit (SMTPD_CMD_FLAG_LIMIT)
	flagPreTLS             // allowed before STARTTLS when TLS is required (SMTPD_CMD_FLAG_PRE_TLS)
	flagLast               // must be the last of a pipelined group (SMTPD_CMD_FLAG_LAST)
)

type handler func(c *conn, ctx context.Context, arg string) *Reply

type command struct {
	name  string
	flags int
	run   handler
}

// commands are the SMTP commands the engine knows, with Postfix's flags.
var commands = []command{
	{"HELO", flagJunk | flagPreTLS | flagLast, (*conn).helo},
	{"EHLO", flagJunk | flagPreTLS | flagLast, (*conn).ehlo},
	{"STARTTLS", flagPreTLS, (*conn).starttls},
	{"AUTH", 0, (*conn).auth},
	{"MAIL", 0, (*conn).mailCmd},
	{"RCPT", 0, (*conn).rcptCmd},
	{"DATA", flagLast, (*conn).dataCmd},
	{"BDAT", 0, (*conn).bdatCmd},
	{"RSET", flagJunk, (*conn).rset},
	{"NOOP", flagJunk | flagPreTLS | flagLast, (*conn).noop},
	{"VRFY", flagJunk | flagLast, (*conn).vrfy},
	{"ETRN", flagJunk, (*conn).etrn},
	{"QUIT", flagPreTLS, (*conn).quitCmd},
}

func lookupCommand(verb string) *command {
	for i := range commands {
		if strings.EqualFold(commands[i].name, verb) {
			return &commands[i]
		}
	}
	return nil
}

// command runs one command line.
func (c *conn) command(ctx context.Context, line string) {
	verb, arg, _ := strings.Cut(strings.TrimLeft(line, " \t"), " ")
	cmd := lookupCommand(verb)
	if cmd == nil || strings.ContainsRune(line, 0) {
		c.result(reply(502, "5.5.2", "Error: command not recognized"))
		return
	}
	// Pipelining: commands sent ahead of time where RFC 2920 does not
	// allow them (after HELO, without PIPELINING, or after a command that
	// must end a group) are remembered for reject_unauth_pipelining.
	if c.r.Buffered() > 0 && (!c.client.ESMTP || c.cfg.discarded("pipelining") || cmd.flags&flagLast != 0) {
		c.illegalPipelining(cmd.name)
	}
	if cmd.flags&flagJunk != 0 {
		c.junk++
		if c.junk > c.cfg.JunkCommandLimit {
			c.errors++
		}
	}
	if c.cfg.RequireTLS && c.cfg.TLS != nil && !c.tlsReady && cmd.flags&flagPreTLS == 0 {
		c.result(reply(530, "5.7.0", "Must issue a STARTTLS command first"))
		return
	}
	if r := cmd.run(c, ctx, strings.Trim(arg, " \t")); r != nil {
		c.result(r)
	}
}

// resetTransaction ends the mail transaction.
func (c *conn) resetTransaction(ctx context.Context) {
	if c.bdat != nil {
		c.abortBDAT()
	}
	if c.mail || c.bdat != nil {
		c.sess.Reset(ctx)
	}
	c.mail, c.rcpts, c.bdat = false, 0, nil
}

func (c *conn) helo(ctx context.Context, arg string) *Reply {
	return c.hello(ctx, arg, false)
}

func (c *conn) ehlo(ctx context.Context, arg string) *Reply {
	return c.hello(ctx, arg, true)
}

func (c *conn) hello(ctx context.Context, arg string, esmtp bool) *Reply {
	verb := "HELO"
	if esmtp {
		verb = "EHLO"
	}
	if arg == "" {
		return reply(501, "", "Syntax: "+verb+" hostname")
	}
	c.resetTransaction(ctx)
	c.client.Helo, c.client.ESMTP = arg, esmtp
	if r := c.sess.Hello(ctx, &c.client); r != nil {
		if r.Failed() {
			c.client.Helo, c.client.ESMTP = "", false
		}
		return r
	}
	if !esmtp {
		return reply(250, "", c.cfg.Hostname)
	}
	return c.ehloReply()
}

func (c *conn) mailCmd(ctx context.Context, arg string) *Reply {
	if c.client.Helo == "" {
		return reply(503, "5.5.1", "Error: send HELO/EHLO first")
	}
	if c.mail {
		return reply(503, "5.5.1", "Error: nested MAIL command")
	}
	toks := tokens(arg)
	if len(toks) < 2 || !strings.EqualFold(toks[0], "FROM:") {
		return reply(501, "5.5.4", "Syntax: MAIL FROM:<address>")
	}
	from, ok := extractPath(toks[1], false)
	if !ok {
		return reply(501, "5.1.7", "Bad sender address syntax")
	}
	p, r := parseMailParams(toks[2:], !c.cfg.NoSMTPUTF8)
	if r != nil {
		return r
	}
	if c.cfg.SizeLimit > 0 && p.Size > c.cfg.SizeLimit {
		return reply(552, "5.3.4", "Message size exceeds fixed limit")
	}
	if r := c.sess.Mail(ctx, from, p); r != nil && r.Failed() {
		return r
	} else if r != nil {
		c.mail = true
		return r
	}
	c.mail = true
	return reply(250, "2.1.0", "Ok")
}

func (c *conn) rcptCmd(ctx context.Context, arg string) *Reply {
	if !c.mail {
		return reply(503, "5.5.1", "Error: need MAIL command")
	}
	toks := tokens(arg)
	if len(toks) < 2 || !strings.EqualFold(toks[0], "TO:") {
		return reply(501, "5.5.4", "Syntax: RCPT TO:<address>")
	}
	to, ok := extractPath(toks[1], false)
	if !ok || to == "" {
		return reply(501, "5.1.3", "Bad recipient address syntax")
	}
	p, r := parseRcptParams(toks[2:])
	if r != nil {
		return r
	}
	if r := c.sess.Rcpt(ctx, to, p); r != nil {
		if !r.Failed() {
			c.rcpts++
		}
		return r
	}
	c.rcpts++
	return reply(250, "2.1.5", "Ok")
}

func (c *conn) rset(ctx context.Context, arg string) *Reply {
	if arg != "" {
		return reply(501, "5.5.4", "Syntax: RSET")
	}
	c.resetTransaction(ctx)
	return reply(250, "2.0.0", "Ok")
}

func (c *conn) noop(ctx context.Context, arg string) *Reply {
	return reply(250, "2.0.0", "Ok")
}

func (c *conn) quitCmd(ctx context.Context, arg string) *Reply {
	c.quit = true
	c.send(reply(221, "2.0.0", "Bye"))
	return nil
}

func (c *conn) auth(ctx context.Context, arg string) *Reply {
	return reply(503, "5.5.1", "Error: authentication not enabled")
}

func (c *conn) vrfy(ctx context.Context, arg string) *Reply {
	if c.cfg.DisableVRFY {
		return reply(502, "5.5.1", "VRFY command is disabled")
	}
	if arg == "" {
		return reply(501, "5.5.4", "Syntax: VRFY address")
	}
	addr, ok := extractPath(arg, false)
	if !ok {
		return reply(501, "5.1.3", "Bad recipient address syntax")
	}
	if v, ok := c.sess.(Verifier); ok {
		if r := v.Verify(ctx, addr); r != nil {
			return r
		}
	}
	return reply(252, "2.0.0", addr)
}

func (c *conn) etrn(ctx context.Context, arg string) *Reply {
	if c.client.Helo == "" {
		return reply(503, "5.5.1", "Error: send HELO/EHLO first")
	}
	if c.mail {
		return reply(503, "5.5.1", "Error: MAIL transaction in progress")
	}
	if arg == "" || strings.ContainsAny(arg, " \t") {
		return reply(500, "5.5.2", "Syntax: ETRN domain")
	}
	if f, ok := c.sess.(Flusher); ok {
		if r := f.Flush(ctx, arg); r != nil {
			return r
		}
		return reply(250, "", "Queuing started")
	}
	return reply(459, "4.3.0", "<"+arg+">: service unavailable")
}
