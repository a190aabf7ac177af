package relay

import (
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/maillog"
	"github.com/mxrelay/mxrelay/relay/smtpdproxy"
)

// proxyState is a session's link to the before-queue filter
// (Config.ProxyFilter), as Postfix's smtpd_proxy.c: the connection is
// opened at the first recipient that passes the restrictions and the
// milters (smtpd_delay_open_until_valid_rcpt), takes the client's MAIL
// and RCPT commands and the message, and is closed (QUIT) at the end of
// the transaction.
type proxyState struct {
	conn  *smtpdproxy.Conn
	rcpts []string // speed_adjust: the RCPT commands, sent after the message
	end   *Error   // the filter's reply to the last end of data, for endReply
}

// proxied reports whether the listener passes its mail to a before-queue
// filter.
func (s *session) proxied() bool { return s.r.c.ProxyFilter != nil }

// proxyCfg is the filter's configuration with the relay's logger.
func (s *session) proxyCfg() *smtpdproxy.Config {
	c := *s.r.c.ProxyFilter
	if c.Logger == nil {
		c.Logger = s.r.log
	}
	return &c
}

// proxyRcpt passes an accepted recipient to the filter, connecting
// first; the filter's refusal, or Postfix's "451 4.3.0 Error: queue
// file write error" when it cannot be reached, is the client's reply.
// With speed_adjust the command waits for the end of the message.
func (s *session) proxyRcpt(to string, notify queue.Notify, orcpt string) *Error {
	cmd := rcptCommand(to, notify, orcpt)
	if s.r.c.ProxyFilter.SpeedAdjust {
		if s.proxy.rcpts == nil {
			s.logOpened()
		}
		s.proxy.rcpts = append(s.proxy.rcpts, cmd)
		return nil
	}
	if s.proxy.conn == nil {
		c, rep := smtpdproxy.Open(s.ctx, s.proxyCfg(), s.proxyClient(), s.mailCommand())
		if rep != nil {
			return s.proxyError(*rep)
		}
		s.proxy.conn = c
		s.logOpened()
	}
	if rep := s.proxy.conn.Rcpt(cmd); rep != nil {
		return s.proxyError(*rep)
	}
	return nil
}

// logOpened logs "NOQUEUE: client=host[addr]", as smtpd.c's
// mail_open_stream once the filter is connected (with speed_adjust, at
// once).
func (s *session) logOpened() {
	s.logClientLine()
}

// proxyData sends DATA, after the data restrictions and the milters.
func (s *session) proxyData() *Error {
	if !s.proxied() || s.r.c.ProxyFilter.SpeedAdjust || s.proxy.conn == nil {
		return nil
	}
	if rep := s.proxy.conn.Data(); rep != nil {
		return s.proxyError(*rep)
	}
	return nil
}

// proxyMessage sends the message, hdr (the PREPEND fields and our
// Received: field, without queue ID) then the client's text, and ends
// the data: the filter's reply is the client's. The transaction ends.
func (s *session) proxyMessage(hdr string, dr *dataReader) (queue.ID, *Error) {
	defer s.resetTransaction()
	dr.headerDone = nil // cleanup logs the message-id, and there is no cleanup here
	msg := io.MultiReader(strings.NewReader(hdr), dr)
	conn := s.proxy.conn
	if s.r.c.ProxyFilter.SpeedAdjust {
		// Receive all, then replay the transaction (smtpd_proxy_replay_send):
		// the first refusal is the reply to the whole message.
		f, err := os.CreateTemp("", "mxrelay-proxy-")
		if err != nil {
			return "", s.dataError(err)
		}
		os.Remove(f.Name())
		defer f.Close()
		if _, err := io.Copy(f, msg); err != nil {
			return "", s.dataError(err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return "", s.dataError(err)
		}
		c, rep := smtpdproxy.Open(s.ctx, s.proxyCfg(), s.proxyClient(), s.mailCommand())
		if rep != nil {
			return "", s.proxyEnd(*rep, false)
		}
		s.proxy.conn, conn = c, c
		for _, cmd := range s.proxy.rcpts {
			if rep := c.Rcpt(cmd); rep != nil {
				return "", s.proxyEnd(*rep, false)
			}
		}
		if rep := c.Data(); rep != nil {
			return "", s.proxyEnd(*rep, false)
		}
		msg = f
	}
	if conn == nil {
		return "", s.proxyEnd(smtpdproxy.Failure(), false)
	}
	w := conn.Message()
	if _, err := io.Copy(w, msg); err != nil {
		// The client's side failed (size, lost connection): no end of
		// data is sent, the filter drops the message.
		return "", s.dataError(err)
	}
	rep, ok := conn.End(w)
	if e := s.proxyEnd(rep, ok); !ok {
		return "", e
	}
	s.accepted++
	return "", nil
}

// proxyEnd logs the filter's end-of-data reply as smtpd.c ("proxy-accept:
// END-OF-MESSAGE: 250 ...; from=<> to=<first recipient> proto=ESMTP
// helo=<>", golden lab proxyspeed) and keeps
// an accepting one for endReply.
func (s *session) proxyEnd(rep smtpdproxy.Reply, ok bool) *Error {
	event := maillog.ProxyReject
	if ok {
		event = maillog.ProxyAccept
	}
	first := "" // smtpd.c's state->recipient: the first one accepted
	if len(s.rcpts) > 0 {
		first = s.rcpts[0].Address
	}
	s.logEvent(event, "END-OF-MESSAGE", first, strings.Join(rep.Lines, "\r\n"), "", nil)
	e := s.proxyError(rep)
	if ok {
		s.proxy.end = e
	}
	return e
}

// endReply is the reply to a message received: the filter's, or
// Postfix's "250 2.0.0 Ok: queued as ID".
func (s *session) endReply(id queue.ID) *Error {
	if e := s.proxy.end; e != nil {
		s.proxy.end = nil
		return e
	}
	return queuedReply(id)
}

// proxyClose ends the transaction with the filter (QUIT). The end of
// the session, which may run on another goroutine (go-smtp's
// Server.Close), does not call it: cancelling the session's context
// closes the connection (smtpdproxy.Open).
func (s *session) proxyClose() {
	if !s.proxied() {
		return
	}
	if s.proxy.conn != nil {
		s.proxy.conn.Close()
		s.proxy.conn = nil
	}
	s.proxy.rcpts = nil
}

// proxyError is the filter's reply as the relay's; with soft_bounce a
// 5xx reply becomes 4xx (its enhanced code too), as smtpd_chat_reply
// rewrites every reply it sends.
func (s *session) proxyError(rep smtpdproxy.Reply) *Error {
	code, status, text := rep.Split()
	if s.r.c.SoftBounce && code/100 == 5 {
		code -= 100
		if strings.HasPrefix(status, "5.") {
			status = "4" + status[1:]
		}
	}
	return &Error{Code: code, Status: status, Message: strings.Join(text, "\n")}
}

// proxyClient is what XFORWARD tells the filter: the client the queue
// would keep (queueClient: the forwarded one after XFORWARD), its address
// as smtpd's rfc_addr ("IPv6:" before an IPv6 one), as smtpd_proxy.c
// sends FORWARD_ADDR, and the forwarded IDENT if any (FORWARD_IDENT).
func (s *session) proxyClient() smtpdproxy.Client {
	c := s.queueClient()
	x := smtpdproxy.Client{Name: c.Name, Port: c.Port, Helo: c.Helo, Proto: c.Proto, Local: c.Source == "LOCAL", Ident: c.Ident}
	if a, err := netip.ParseAddr(c.Addr); err == nil {
		x.Addr = rfcAddr(a) // the forwarded client's after XFORWARD, never mixed
	}
	return x
}

// mailCommand is the client's MAIL command, rebuilt from what the
// relay kept of it (Postfix passes the command as the client sent it).
func (s *session) mailCommand() string {
	var b strings.Builder
	b.WriteString("MAIL FROM:<" + s.sender + ">")
	p := s.params
	if p.size > 0 {
		b.WriteString(" SIZE=" + strconv.FormatInt(p.size, 10))
	}
	if p.body != "" {
		b.WriteString(" BODY=" + p.body)
	}
	if p.utf8 {
		b.WriteString(" SMTPUTF8")
	}
	switch p.ret {
	case queue.RetFull:
		b.WriteString(" RET=FULL")
	case queue.RetHdrs:
		b.WriteString(" RET=HDRS")
	}
	if p.envID != "" {
		b.WriteString(" ENVID=" + smtpdproxy.Xtext(p.envID))
	}
	return b.String()
}

// rcptCommand is the client's RCPT command, rebuilt.
func rcptCommand(to string, notify queue.Notify, orcpt string) string {
	cmd := "RCPT TO:<" + to + ">"
	for _, a := range rcptArgs(notify, "") {
		cmd += " " + a
	}
	if typ, addr, ok := strings.Cut(orcpt, ";"); ok {
		cmd += " ORCPT=" + typ + ";" + smtpdproxy.Xtext(addr)
	}
	return cmd
}
