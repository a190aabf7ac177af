// Package client is an SMTP and LMTP delivery client for relaying: one
// session delivers one message to one address (a Target), with per-recipient
// results, and an idle pool reuses connections across messages.
//
// It is written on bufio rather than on go-smtp's client, which sends
// "EHLO localhost" before STARTTLS, drops the connection when STARTTLS is
// missing, and cannot pipeline. What it does, per session:
//
//   - greeting, then EHLO with Config.Hostname (never "localhost"),
//     falling back to HELO after a 5xx; LHLO for LMTP (RFC 2033);
//   - STARTTLS on the same connection with the Target's policy: none, may
//     (opportunistic; a failed handshake is reported with
//     Error.RetryWithoutTLS so the caller retries in clear, as Postfix),
//     encrypt (4.7.4 when not offered), verify (chain checked, and the
//     certificate against Target.TLSMatch, else Target.TLSName or
//     Target.Host); data sent by the peer
//     together with its 220 is refused as an injection attempt;
//   - PIPELINING when offered (RFC 2920: RSET, MAIL, the RCPTs and DATA
//     in one write, or in windows of 4 KiB whose replies are read before
//     the next, as Postfix, so a long recipient list cannot deadlock with
//     the peer), SIZE (RFC 1870; a message over the peer's limit
//     fails 5.3.4 without being sent), 8BITMIME (RFC 6152), SMTPUTF8
//     (RFC 6531; a message that needs it fails 5.6.7 at a peer without
//     it, an ASCII-only one is sent, and addresses with UTF-8 only in
//     their domain go to such a peer with the domain in A-labels,
//     "bob@xn--bcher-kva.example", where Postfix 3.7 bounces 5.6.7 when
//     the sender declared SMTPUTF8), DSN parameters passed through when
//     the peer offers DSN (RFC 3461), CHUNKING/BDAT when enabled (RFC
//     3030), XFORWARD with the original client's attributes when enabled
//     (Config.XForward, Message.XForward) and announced, as Postfix's
//     smtp_proto.c sends it;
//   - one result per recipient: Delivered, Deferred or Failed, with the
//     peer's Reply (code, enhanced code, text) and an *Error naming the
//     host, address and stage, worded as Postfix logs it: "host
//     mx.example.com[192.0.2.1] said: 550 5.1.1 <u@example.com>: User
//     unknown (in reply to RCPT TO command)";
//   - for LMTP, one end-of-data reply per accepted recipient;
//   - mail loop detection (Target.LoopDetect, set by package transport on
//     SMTP port 25): a peer whose EHLO reply starts with this host's
//     myhostname (Config.MyHostname) is this host, and nothing is sent:
//     "mail for NEXTHOP loops back to myself", 5.4.6 at a best MX (the
//     recipients bounce), 4.4.6 elsewhere (the next address is tried),
//     with Postfix's warnings "host H[A]:25 greeted me with my own
//     hostname" and "replied to HELO/EHLO with my own hostname"
//     (smtp_proto.c).
//
// Every stage has its own timeout (Timeouts, with the defaults of Postfix's
// smtp_*_timeout parameters), applied to each read and write; the ctx of
// Deliver cancels everything. Connections go back to an idle pool keyed by
// (host, address, protocol, TLS policy) and are reused after RSET; a
// cached connection that died while idle is replaced transparently.
//
// Deliver does not try other addresses; Postfix's try-next-address rules
// (smtp_connect.c, smtp_trouble.c) across the addresses of a nexthop live
// in package transport (Agent), which uses Result.Pending,
// Error.NextAddress and Error.RetryWithoutTLS.
//
// # Worked example
//
//	c, err := client.New(client.Config{Hostname: "relay.example.net"})
//	if err != nil { ... }
//	defer c.Close() // QUIT on idle connections
//	msg := &client.Message{
//		From:       "alice@example.org",
//		Recipients: []client.Recipient{{Address: "bob@example.com", Notify: "FAILURE"}},
//		Body:       bytes.NewReader(content), // LF or CRLF, sent as CRLF
//		Size:       int64(len(content)),
//	}
//	res, err := c.Deliver(ctx, client.Target{Host: "mx1.example.com", Address: "192.0.2.1:25",
//		TLS: client.TLSMandatory}, msg)
//	for _, r := range res.Recipients {
//		fmt.Println(r.Recipient, r.Status, r.Reply) // bob@example.com delivered 250 2.0.0 Ok: queued
//	}
//
// err is the session-level failure (also in Result.Err), or nil when the
// session ran, even if some recipients were refused.
//
// # Postfix parameters and RFCs
//
// smtp_helo_name (Config.Hostname), myhostname (Config.MyHostname),
// smtp_connect_timeout, smtp_helo_timeout,
// smtp_starttls_timeout, smtp_xforward_timeout, smtp_rset_timeout, smtp_mail_timeout,
// smtp_rcpt_timeout, smtp_data_init_timeout, smtp_data_xfer_timeout,
// smtp_data_done_timeout, smtp_quit_timeout, smtp_skip_quit_response,
// lmtp_skip_quit_response, smtp_skip_5xx_greeting (Bounce5xxGreeting),
// smtp_connection_cache_time_limit (IdleTimeout),
// smtp_connection_reuse_time_limit (MaxReuseTime),
// smtp_tls_security_level (TLSLevel), smtp_send_xforward_command
// (Config.XForward; XFORWARD_README). RFC 5321, 2033, 2920, 1870, 6152,
// 6531, 3461, 3030, 3207 (STARTTLS), 3463 and 2034 (enhanced codes).
//
// # Deliberate differences from Postfix
//
//   - Content is always sent in canonical form: CRLF, LF and a bare CR
//     each end a line and are sent as CRLF, and lines starting with "."
//     are dot-stuffed. No bare CR or LF ever reaches the peer, so a
//     message cannot smuggle a second one past a lax server ("SMTP
//     smuggling", CVE-2023-51764 class). Postfix splits content only at LF
//     and sends other bytes, a bare CR included, as they are.
//   - The zero TLSLevel is may (opportunistic), which most distributions
//     configure; Postfix's built-in default is none.
//   - BDAT is available (Config.Chunking); Postfix never sends it.
//   - Replies are capped (MaxReplyLineLength, MaxReplyLines,
//     MaxReplySize); a peer exceeding them is a protocol error (4.4.2) and
//     the connection is dropped. Of a reply within the caps, the first
//     MaxReplyKept bytes of text are kept, as Postfix keeps them.
//   - The connection cache is in process (per Client) rather than a
//     separate scache daemon, and caches by address only.
//   - An SMTP QUIT reply is not awaited (smtp_skip_quit_response = yes);
//     an LMTP one is (lmtp_skip_quit_response = no), so a local LMTP
//     server is not left writing its 221 to a closed socket.
package client
