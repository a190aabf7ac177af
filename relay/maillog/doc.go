// Package maillog writes the relay's log as Postfix 3.7 writes its own,
// line for line, so that pflogsumm, fail2ban filters and the other tools
// made for Postfix's maillog read it.
//
// Package relay logs its events (connect, rejections, queued messages,
// delivery outcomes, removals) through an injected *slog.Logger, each a
// record whose message is one of this package's constants (Connect,
// Reject, Delivery...) with the attributes that constant documents. The
// records are the one source of truth: slog's text and JSON handlers
// print them as they are, and Handler renders them as Postfix's lines:
//
//	logger := slog.New(maillog.NewHandler(f, &maillog.Options{Hostname: "mx2.example.com"}))
//	ld, err := relay.Load(ctx, cf, relay.LoadOptions{Queue: spool, Logger: logger})
//
// writes, for one message relayed to the primary MX:
//
//	Dec  7 01:02:03 mx2 postfix/smtpd[4242]: connect from unknown[192.0.2.1]
//	Dec  7 01:02:03 mx2 postfix/smtpd[4242]: 8070D442D8921C009D84: client=unknown[192.0.2.1]
//	Dec  7 01:02:03 mx2 postfix/cleanup[4242]: 8070D442D8921C009D84: message-id=<1@sender.example>
//	Dec  7 01:02:03 mx2 postfix/qmgr[4242]: 8070D442D8921C009D84: from=<a@sender.example>, size=438, nrcpt=1 (queue active)
//	Dec  7 01:02:03 mx2 postfix/smtpd[4242]: disconnect from unknown[192.0.2.1] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5
//	Dec  7 01:02:03 mx2 postfix/relay/smtp[4242]: 8070D442D8921C009D84: to=<b@example.com>, relay=mx1.example.com[198.51.100.7]:25, delay=0.21, delays=0.02/0/0/0.19, dsn=2.0.0, status=sent (250 2.0.0 Ok)
//	Dec  7 01:02:03 mx2 postfix/qmgr[4242]: 8070D442D8921C009D84: removed
//
// Buffered puts one goroutine between the handler and the file or
// socket, so that sessions logging at the same time do not queue up
// behind each other's write(2); its Close writes what is left.
//
// Lines go to a file (as syslog daemons write them, above; with
// Options.MaillogFile, as Postfix's own maillog_file) or, with
// Options.Syslog and DialSyslog, to the local syslog daemon (facility
// mail), which adds the host name and its own time stamp format.
//
// Differences from Postfix 3.7, on purpose or for want of the data:
//
//   - every line carries mxrelayd's one process ID, as one process does
//     the work of smtpd, cleanup, qmgr and the delivery agents;
//   - queue IDs are the relay's (20 hexadecimal digits, not 11);
//   - delays= has 0 for the connection set-up (its third part), which the
//     delivery is not timed apart from, so the transmission (the fourth)
//     includes it;
//   - the status lines of one delivery come in the message's recipient
//     order, where Postfix's qmgr sorts the recipients;
//   - the smtp client's own "connect to host[addr]:25: Connection
//     refused" line, which Postfix writes before the status line that
//     repeats it, is not written, nor conn_use= for a reused connection;
//   - a relay mounted in a go-smtp server (MX.NewSession) logs its
//     disconnect lines without the command counts, which go-smtp does
//     not report; relay.Server's sessions have them;
//   - a destination that failed stays suspended for
//     queue.Config.DeadTime, so a second message to it logs "delivery
//     temporarily suspended: ..." where Postfix, whose qmgr forgets a
//     dead destination once no mail waits for it, may try it again.
//
// The lines Postfix 3.7.11 wrote for the same traffic are in
// examples/mxrelayd/daemon/testdata/postfix-lab (recorded with the postfix-lab:
// delivered, rejected at RCPT, deferred, bounced, a dead destination, a
// bounce to a real sender and its delivery, HOLD, DISCARD, WARN, INFO,
// warn_if_reject, a non-SMTP command); mxrelayd's TestPostfixLogLines,
// TestPostfixBounceLines and TestPostfixActionLines send the same traffic
// and compare the lines field by field, and TestPflogsumm checks that
// pflogsumm counts the same on both.
package maillog
