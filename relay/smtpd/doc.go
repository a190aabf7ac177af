// Package smtpd is mxrelay's SMTP server engine: it reads commands as
// Postfix 3.7's smtpd reads them, answers every protocol error with
// Postfix's reply, and hands each valid command to a Session, which
// decides (package relay implements one on top of its policy and queue).
// It knows nothing of policy.
//
// What the engine does itself, as smtpd.c does:
//   - Command syntax: verbs in any case, extra blanks, lines up to
//     line_length_limit (Config.MaxLine), "MAIL FROM:<addr>" and
//     "FROM: <addr>" and unbracketed addresses (smtpd_token.c and
//     extract_addr), the ESMTP parameters Postfix 3.7 takes (SIZE,
//     BODY=7BIT/8BITMIME, SMTPUTF8, RET, ENVID, AUTH; NOTIFY, ORCPT) with
//     "555 5.5.4 Unsupported option" for others.
//   - Command order ("503 5.5.1 Error: need MAIL command"...), the EHLO
//     keywords in Postfix's order less smtpd_discard_ehlo_keywords,
//     DATA (end only at CR LF "." CR LF, so that a bare LF never ends a
//     message: SMTP smuggling), BDAT (RFC 3030), RSET, NOOP, QUIT, VRFY
//     (through a Verifier), ETRN (through a Flusher), STARTTLS with the
//     clear-text injection defence (CVE-2011-0411), AUTH refused,
//     XFORWARD for the clients the Backend allows (Client.XForward,
//     Client.Forwarded: smtpd.c's xforward_cmd, its checks and replies),
//     XCLIENT refused.
//   - Error accounting: smtpd_soft_error_limit, smtpd_hard_error_limit,
//     smtpd_junk_command_limit, smtpd_error_sleep_time, smtpd_timeout.
//   - Pipelining: commands sent ahead of time where RFC 2920 does not
//     allow it set Client.IllegalPipelining, for reject_unauth_pipelining
//     (what is buffered, in a TLS record or in the socket counts, and
//     talk before the greeting), or end the session
//     (smtpd_forbid_unauth_pipelining).
//   - Shutdown (the context of ServeConn ends): a session waiting for a
//     command, or for the next chunk of a BDAT transfer, is told "421
//     4.3.2 Service shutting down"; a DATA transfer is received and
//     answered first.
//
// Deliberate differences from Postfix: HELO or EHLO is always required
// before MAIL (as smtpd_helo_required = yes); a bare LF does not end a
// line of message text (Postfix 3.7's smtpd_forbid_bare_newline = no
// lets it), the Session sees it and decides.
//
// # Worked example
//
// A Backend returns a Session for each connection; the caller accepts
// connections and hands each to ServeConn:
//
//	srv := smtpd.NewServer(backend, smtpd.Config{Hostname: "mx.example.net", SizeLimit: 10240000})
//	for {
//		nc, err := l.Accept()
//		if err != nil { ... }
//		go srv.ServeConn(ctx, nc, nil) // nil: the client's address is the connection's
//	}
//
// A Session answers nil to accept a command with the standard reply, or a
// *Reply to refuse it:
//
//	func (s *mySession) Rcpt(ctx context.Context, to string, p smtpd.RcptParams) *smtpd.Reply {
//		if !s.known(to) {
//			return &smtpd.Reply{Code: 550, Enhanced: "5.1.1", Text: "<" + to + ">: Recipient address rejected: User unknown"}
//		}
//		return nil // "250 2.1.5 Ok"
//	}
package smtpd
