// Package smtpdproxy is the client side of Postfix's before-queue content
// filter (smtpd_proxy_filter, SMTPD_PROXY_README): an SMTP session that
// passes each mail transaction on to a filter while the client waits,
// and answers the client with the filter's replies, as Postfix 3.7's
// smtpd/smtpd_proxy.c.
//
// The relay's session (relay/session_proxy.go) drives it: at the first
// recipient that passes the restrictions it calls Open, which connects
// (smtpd_proxy_timeout), reads the greeting, sends EHLO
// (smtpd_proxy_ehlo), XFORWARD with the client's attributes when the
// filter announces XFORWARD, and the client's MAIL command; then Rcpt for
// each accepted recipient, Data after the client's DATA, the message
// through Message, End for the end of data, and Close (QUIT) at the end
// of the transaction. With Config.SpeedAdjust (smtpd_proxy_options =
// speed_adjust) the caller receives the whole message first and replays
// the transaction.
//
// The replies follow Postfix: a filter that cannot be reached, breaks
// the protocol, times out or refuses the connection, EHLO or XFORWARD
// gives Failure ("451 4.3.0 Error: queue file write error"), as does an
// unexpected 2xx or 3xx reply; a 4xx or 5xx refusal of MAIL, RCPT or
// DATA is passed on as it is; the reply to the end of data, whatever its
// code, is the client's. Replies are read with Postfix's limits (2048
// bytes a line and a reply), non-printable characters shown as "?".
//
// A worked example, the reply a client gets for a refused recipient:
//
//	cfg := &smtpdproxy.Config{Service: "127.0.0.1:10024", EHLO: "mx.example.net"}
//	c, rep := smtpdproxy.Open(ctx, cfg, smtpdproxy.Client{Addr: "192.0.2.1", Helo: "client.example", Proto: "ESMTP"}, "MAIL FROM:<a@example.org>")
//	if rep != nil {
//		return rep // "451 4.3.0 Error: queue file write error" when the filter is down
//	}
//	defer c.Close()
//	if rep := c.Rcpt("RCPT TO:<b@example.net>"); rep != nil {
//		return rep // the filter's "550 5.1.1 ..." as it sent it
//	}
//	if rep := c.Data(); rep != nil {
//		return rep
//	}
//	w := c.Message()
//	io.Copy(w, message)
//	rep, ok := c.End(w) // "250 2.0.0 Ok: queued as ..." from the filter
package smtpdproxy
