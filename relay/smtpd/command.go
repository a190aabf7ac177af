package smtpd

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/mxrelay/mxrelay/relay/maillog"
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
	{"XCLIENT", 0, (*conn).unauthorized},
	{"XFORWARD", 0, (*conn).xforward},
}

func lookupCommand(verb string) *command {
	for i := range commands {
		if strings.EqualFold(commands[i].name, verb) {
			return &commands[i]
		}
	}
	return nil
}

// command runs one command line and counts it (CommandStats).
func (c *conn) command(ctx context.Context, line string) {
	c.failed = false
	if c.cfg.CommandFilter != nil {
		var ok bool
		if line, ok = c.filterCommand(ctx, line); !ok {
			return
		}
	}
	c.dispatch(ctx, line)
	verb, _ := splitVerb(line)
	if lookupCommand(verb) == nil {
		verb = "unknown"
	}
	c.client.Commands.count(verb, !c.failed)
}

// dispatch runs one command line.
func (c *conn) dispatch(ctx context.Context, line string) {
	verb, arg := splitVerb(line)
	if cmd := lookupCommand(verb); cmd != nil {
		c.client.Commands.Last = cmd.name
	} else {
		c.client.Commands.Last = "UNKNOWN"
	}
	if verb == "" {
		c.result(reply(500, "5.5.2", "Error: bad syntax"))
		return
	}
	if !c.cfg.NoSMTPUTF8 && !utf8.ValidString(line) {
		if cmd := lookupCommand(verb); cmd != nil {
			c.result(c.skipChunk(cmd, arg, reply(500, "5.5.2", "Error: bad UTF-8 syntax")))
			return
		}
		c.result(reply(500, "5.5.2", "Error: bad UTF-8 syntax"))
		return
	}
	cmd := lookupCommand(verb)
	if cmd == nil {
		if forbidden(verb) {
			// A web browser, a proxy probe, or message text sent as
			// commands: Postfix's smtpd_forbidden_commands.
			c.cfg.Logger.Warn(maillog.NonSMTPCommand, maillog.KeyClient, c.client.String(), maillog.KeyCommand, truncate(line, 100))
			c.send(reply(221, "2.7.0", "Error: I can break rules, too. Goodbye."))
			c.failed = true
			c.quit = true
			return
		}
		r := reply(500, "5.5.2", "Error: command not recognized")
		if u, ok := c.sess.(UnknownCommander); ok {
			if ur := u.Unknown(ctx, verb); ur != nil && ur.Failed() {
				r = ur // smtpd.c asks its milters (milter_unknown_event)
			}
		}
		c.result(r)
		return
	}
	// Pipelining: commands sent ahead of time where RFC 2920 does not
	// allow them (after HELO, without PIPELINING, or after a command that
	// must end a group) are remembered for reject_unauth_pipelining, or
	// end the session with smtpd_forbid_unauth_pipelining.
	if (!c.client.ESMTP || c.cfg.discarded("pipelining") || cmd.flags&flagLast != 0) && c.client.IllegalPipelining == "" && c.pendingInput() {
		c.illegalPipelining(cmd.name)
		if c.cfg.ForbidUnauthPipelining {
			c.send(reply(554, "5.5.0", "Error: SMTP protocol synchronization"))
			c.failed = true
			c.quit = true
			return
		}
	}
	if cmd.flags&flagJunk != 0 {
		c.countJunk()
	}
	if c.cfg.RequireTLS && !c.tlsReady && cmd.flags&flagPreTLS == 0 {
		c.result(c.skipChunk(cmd, arg, reply(530, "5.7.0", "Must issue a STARTTLS command first")))
		return
	}
	if r := cmd.run(c, ctx, strings.Trim(arg, " \t")); r != nil {
		c.result(r)
	}
}

// countJunk counts a junk command (HELO, EHLO, NOOP, RSET, VRFY, ETRN):
// past JunkCommandLimit each is an error, as smtpd.c's
// "junk_cmds++ > var_smtpd_junk_cmd_limit".
func (c *conn) countJunk() {
	if c.junk > c.cfg.JunkCommandLimit {
		c.errors++
	}
	c.junk++
}

// skipChunk answers a BDAT refused before it ran: its chunk is read and
// dropped, so that the chunk's bytes are not read as commands.
func (c *conn) skipChunk(cmd *command, arg string, r *Reply) *Reply {
	if cmd.name != "BDAT" {
		return r
	}
	n, _, ok := bdatArgs(strings.Trim(arg, " \t"))
	if !ok {
		c.quit = true
		return r
	}
	return c.dropChunk(n, r) // nil when the chunk is too big to read: the reply is sent, the session ends
}

// forbidden reports whether an unknown verb is one of Postfix's default
// smtpd_forbidden_commands (CONNECT, GET, POST, a verb that does not
// start with a letter) or looks like a message header ("Subject:").
func forbidden(verb string) bool {
	switch strings.ToUpper(verb) {
	case "CONNECT", "GET", "POST":
		return true
	}
	c := verb[0]
	if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
		return true
	}
	return isHeaderName(verb)
}

// isHeaderName reports whether s is a header field name and a colon
// ("Subject:"), as Postfix's is_header.
func isHeaderName(s string) bool {
	name, ok := strings.CutSuffix(s, ":")
	if !ok || name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f || c == ':' {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// resetTransaction ends the mail transaction.
func (c *conn) resetTransaction(ctx context.Context) {
	if c.mail {
		c.sess.Reset(ctx)
		c.client.Forwarded = nil
	}
	c.mail, c.rcpts, c.bdatDiscard, c.overshoot = false, 0, false, 0
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
	c.client.Forwarded = nil // helo_cmd and ehlo_cmd call mail_reset, which ends XFORWARD
	c.client.Helo, c.client.ESMTP = printableHelo(arg), esmtp
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
	if c.bdatDiscard {
		return reply(503, "5.5.1", "Error: MAIL after BDAT")
	}
	if c.mail {
		return reply(503, "5.5.1", "Error: nested MAIL command")
	}
	toks := tokens(arg)
	if len(toks) < 2 || !strings.EqualFold(toks[0].text, "FROM:") {
		return reply(501, "5.5.4", "Syntax: MAIL FROM:<address>")
	}
	from, ok := extractPath(toks[1].text, c.cfg.StrictRFC821)
	if toks[1].bad || !ok {
		return reply(501, "5.1.7", "Bad sender address syntax")
	}
	p, r := parseMailParams(texts(toks[2:]), !c.cfg.NoSMTPUTF8 && !c.cfg.discarded("SMTPUTF8"), !c.cfg.discarded("DSN"))
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
	if c.bdatDiscard {
		return reply(503, "5.5.1", "Error: RCPT after BDAT")
	}
	toks := tokens(arg)
	if len(toks) < 2 || !strings.EqualFold(toks[0].text, "TO:") {
		return reply(501, "5.5.4", "Syntax: RCPT TO:<address>")
	}
	to, ok := extractPath(toks[1].text, c.cfg.StrictRFC821)
	if toks[1].bad || !ok || to == "" {
		return reply(501, "5.1.3", "Bad recipient address syntax")
	}
	p, r := parseRcptParams(texts(toks[2:]), !c.cfg.discarded("DSN"))
	if r != nil {
		return r
	}
	if c.rcpts >= c.cfg.RecipientLimit {
		// Not an error until the overshoot limit, as smtpd.c's rcpt_cmd.
		c.overshoot++
		if c.overshoot <= c.cfg.RecipientOvershootLimit {
			c.send(reply(452, "4.5.3", "Error: too many recipients"))
			return nil
		}
		return reply(452, "4.5.3", "Error: too many recipients")
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
	c.client.Forwarded = nil // smtpd.c's rset_cmd calls mail_reset in any case
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

func (c *conn) unauthorized(ctx context.Context, arg string) *Reply {
	return reply(550, "5.7.0", "Error: insufficient authorization")
}

func (c *conn) auth(ctx context.Context, arg string) *Reply {
	return reply(503, "5.5.1", "Error: authentication not enabled")
}

func (c *conn) vrfy(ctx context.Context, arg string) *Reply {
	if c.cfg.DisableVRFY {
		return reply(502, "5.5.1", "VRFY command is disabled")
	}
	toks := tokens(arg)
	if len(toks) == 0 {
		return reply(501, "5.5.4", "Syntax: VRFY address [SMTPUTF8]")
	}
	if len(toks) > 2 || len(toks) == 2 && !strings.EqualFold(toks[1].text, "SMTPUTF8") {
		return reply(501, "5.1.3", "Bad recipient address syntax")
	}
	addr, ok := extractPath(toks[0].text, false)
	if toks[0].bad || !ok || addr == "" {
		return reply(501, "5.1.3", "Bad recipient address syntax")
	}
	if v, ok := c.sess.(Verifier); ok {
		if r := v.Verify(ctx, addr); r != nil {
			return r
		}
	}
	return reply(252, "2.0.0", toks[0].text)
}

func (c *conn) etrn(ctx context.Context, arg string) *Reply {
	// ETRN replies carry no enhanced status code, as in Postfix.
	if c.client.Helo == "" {
		return reply(503, "", "Error: send HELO/EHLO first")
	}
	if c.mail {
		return reply(503, "", "Error: MAIL transaction in progress")
	}
	if arg == "" || strings.ContainsAny(arg, " \t") {
		return reply(500, "", "Syntax: ETRN domain")
	}
	domain := arg
	if domain[0] == '@' || domain[0] == '#' {
		domain = domain[1:] // RFC 1985 subdomain and queue forms
	}
	if !validDomain(domain) {
		return reply(501, "", "Error: invalid parameter syntax")
	}
	if f, ok := c.sess.(Flusher); ok {
		if r := f.Flush(ctx, domain); r != nil {
			return r
		}
		return reply(250, "", "Queuing started")
	}
	return reply(459, "", "<"+domain+">: service unavailable")
}

// validDomain reports whether s is a host name: letters, digits, '-' and
// '.' (Postfix's valid_hostname, without its length checks).
func validDomain(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c >= 0x80) {
			return false
		}
	}
	return true
}

// splitVerb splits a command line at the first blank (space or tab)
// after the verb.
func splitVerb(line string) (verb, arg string) {
	line = strings.TrimLeft(line, " \t")
	if i := strings.IndexAny(line, " \t"); i >= 0 {
		return line[:i], line[i+1:]
	}
	return line, ""
}

func texts(toks []token) []string {
	out := make([]string, len(toks))
	for i, t := range toks {
		out[i] = t.text
	}
	return out
}

// printableHelo is the HELO argument as Postfix's smtpd keeps it: white
// space and control characters become "?" ("HELO two words" is
// "two?words").
func printableHelo(s string) string {
	return mapBytes(s, func(c byte) bool { return c <= ' ' || c == 0x7f })
}
