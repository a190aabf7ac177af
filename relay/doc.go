// Package relay composes mxrelay's policy, transport and queue packages
// into what a Go mail server needs to act as a primary or backup MX the
// way Postfix 3.7 does: a go-smtp Backend that accepts mail under
// Postfix's relay rules and stores it durably before answering 250, and a
// delivery loop that relays the queued mail and returns what cannot be
// delivered as RFC 3464 DSNs shaped like Postfix's.
//
// # Pieces
//
//   - MX (New) is a go-smtp Backend: mount it in your own smtp.Server,
//     or let Server run it. Each SMTP command is checked by a Checker
//     (*policy.Policy): client and HELO restrictions at the first
//     HELO/EHLO, then MAIL, RCPT and DATA, with Postfix's reply codes and
//     texts. MX.Run is the delivery loop.
//   - Server runs an MX: listener with a connection limit and a
//     per-client limit, command timeouts, delivery workers, and
//     Shutdown(ctx), which finishes the message being received, closes
//     idle sessions, stops the workers and leaves the queue intact.
//   - Load assembles a whole relay from a main.cf read by the one
//     reader, package relay/maincf: each part gets a typed configuration
//     built once from it (PolicyConfig for policy; the router, delivery,
//     queue and SMTP server configurations likewise), and a main.cf that
//     turns on a Postfix feature mxrelay does not implement is refused
//     with the parameters named.
//   - DSN builds delivery status notifications; Received builds the
//     Received: header smtpd prepends.
//
// # Worked example
//
// A backup MX for example.test that relays to the primary found in DNS
// (this host's own address cuts the MX list, as Postfix's smtp_addr.c
// does):
//
//	cf, err := maincf.Load("/etc/postfix/main.cf")
//	// compatibility_level = 3.6
//	// myhostname = mx2.example.net
//	// relay_domains = example.test
//	// relay_recipient_maps = cdb:/etc/postfix/relay_recipients
//	// inet_interfaces = 192.0.2.2
//	if err != nil { ... }
//	spool, err := queue.OpenSpool(ctx, "/var/spool/mxrelay", nil)
//	if err != nil { ... }
//	ld, err := relay.Load(ctx, cf, relay.LoadOptions{Queue: spool, Logger: logger})
//	if err != nil { ... }       // a missing table, a bad value, an open relay, a feature not implemented
//	defer ld.Close()
//	for _, w := range ld.Warnings { logger.Warn(w) } // configuration traps, TLS trouble
//	srv, _ := relay.NewServer(ld.Server) // smtpd_banner, smtpd_timeout, STARTTLS
//	go srv.ListenAndServe(ctx, "192.0.2.2:25")
//	<-ctx.Done()
//	srv.Shutdown(shutdownCtx)
//
// To embed the backend in your own go-smtp server, the short way is the
// same Load, with main.cf settings made in Go: BackupMX writes the usual
// ones, and maincf.File's Set, SetList and SetTable (Go tables) change
// any parameter as a main.cf line would, through the same registry:
//
//	cf := relay.BackupMX("mx2.example.net", []string{"example.test"}, myTable)
//	// compatibility_level = 3.6, relay_domains = example.test,
//	// relay_recipient_maps = go:relay_recipient_maps (myTable, asked
//	// lower-case keys), mynetworks = 127.0.0.0/8, [::1]/128
//	cf.SetTable("transport_maps", myTransport)
//	cf.SetList("mynetworks", "127.0.0.0/8", "[::1]/128", "192.0.2.0/24")
//	cf.Set("maximal_queue_lifetime", "20d")
//	ld, err := relay.Load(ctx, cf, relay.LoadOptions{Queue: spool})
//	if err != nil { ... }
//	s := smtp.NewServer(ld.MX)
//	s.MaxMessageBytes = ld.MX.MessageSizeLimit() // so that SIZE is advertised
//	go ld.MX.Run(ctx)                            // the delivery loop
//	go s.ListenAndServe()
//
// examples/gateway does exactly this with an HTTP-backed table. The long
// way builds the pieces (policy.New, transport.NewRouter and NewAgent,
// queue.NewScheduler) and passes them to New. At shutdown, mx.CloseSessions(ctx) ends the sessions as
// Server.Shutdown does (idle ones get 421 4.3.2, a message being received
// is finished and answered); then close your smtp.Server and cancel Run's
// context. LoadOptions.Tables brings Go tables (SQL, HTTP) into any
// table parameter. examples/mxrelayd is a complete daemon.
//
// # What it implements
//
// RFC 5321 (SMTP), RFC 3461/3464 (DSN parameters and reports, NOTIFY
// NEVER/SUCCESS/FAILURE/DELAY, RET, ENVID, ORCPT), RFC 6531/6533
// (SMTPUTF8 sessions, message/global-delivery-status), RFC 1870 (SIZE),
// RFC 3463 (enhanced status codes). Postfix parameters: myhostname,
// mydomain, myorigin, mydestination, inet_interfaces, proxy_interfaces,
// mynetworks(_style), relay_domains, relay_recipient_maps,
// transport_maps, relay_transport, default_transport, local_transport,
// virtual_transport, relayhost, smtp_fallback_relay,
// smtpd_{client,helo,sender,relay,recipient,data}_restrictions,
// smtpd_relay_before_recipient_restrictions,
// smtpd_reject_unlisted_recipient, recipient_delimiter,
// parent_domain_matches_subdomains, virtual_alias_domains,
// virtual_alias_maps (virtual_maps) with virtual_alias_recursion_limit,
// virtual_alias_expansion_limit, virtual_alias_address_length_limit and
// propagate_unmatched_extensions, canonical_maps, sender_canonical_maps,
// recipient_canonical_maps, canonical_classes, sender_canonical_classes,
// recipient_canonical_classes, local_header_rewrite_clients,
// header_size_limit, always_bcc, sender_bcc_maps, recipient_bcc_maps,
// masquerade_domains, masquerade_exceptions (user names only),
// masquerade_classes (the cleanup stage, relay/cleanup),
// content_filter and default_filter_nexthop (FilterConfig: the
// after-queue content filter of FILTER_README, with the FILTER actions of
// access tables, header_checks and body_checks; the filter is recorded
// in the queue envelope, queue.Envelope.Filter, and every recipient goes
// to its transport and next hop, as Postfix's qmgr_message.c routes it;
// a redirected message bypasses it), the REDIRECT and BCC actions of
// access tables (carried out with those of header_checks and
// body_checks, which win; golden lab accessactions and accessfilter),
// receive_override_options (no_unknown_recipient_checks,
// no_address_mappings, no_header_body_checks, no_milters),
// smtpd_proxy_filter, smtpd_proxy_timeout, smtpd_proxy_ehlo and
// smtpd_proxy_options (Config.ProxyFilter: the before-queue filter of
// SMTPD_PROXY_README, package relay/smtpdproxy; golden lab in
// relay/smtpdproxy/testdata/lab),
// smtpd_milters, smtpd_milter_maps and the milter_* parameters (Milters:
// the milters of package relay/milter, as Postfix's smtpd and cleanup
// talk to them; milter_header_checks is refused),
// the smtp and lmtp services of the master.cf beside main.cf as
// transports (maincf.File.Transports), each with its own SMTP client
// built once from main.cf and its "-o" overrides, as master(8) runs
// smtp(8) for it (an override of a feature not implemented is refused by
// name, as in main.cf), smtp_send_xforward_command
// and lmtp_send_xforward_command (XFORWARD with the original client's
// name, address, port, protocol, HELO name, queue ID and SOURCE, kept in
// queue.Envelope.Client; golden lab xforward, relay/testdata/lab-xforward),
// smtpd_authorized_xforward_hosts (Config.XForwardHosts: the XFORWARD
// command of relay/smtpd for those clients; the forwarded client goes to
// the client= log line, the queue and the header rewriting context, not
// to access decisions nor the Received: header; golden lab xfwdin,
// relay/testdata/lab-xforward-in),
// smtp_helo_name, lmtp_lhlo_name and the smtp_*_timeout and
// lmtp_*_timeout parameters, the process limit (maxproc) of those
// services, TRANSPORT_destination_concurrency_limit (queue.Config's
// Transports) and default_destination_recipient_limit and
// TRANSPORT_destination_recipient_limit (Config.RecipientLimits),
// virtual_mailbox_domains, local_recipient_maps, relocated_maps,
// message_size_limit, smtpd_recipient_limit, hopcount_limit,
// smtpd_soft_error_limit, smtpd_hard_error_limit, smtpd_junk_command_limit,
// smtpd_error_sleep_time,
// smtpd_timeout, smtpd_client_connection_count_limit,
// smtpd_client_connection_rate_limit, smtpd_client_message_rate_limit,
// smtpd_client_recipient_rate_limit,
// smtpd_client_new_tls_session_rate_limit, anvil_rate_time_unit and
// smtpd_client_event_limit_exceptions (RateLimits: anvil(8)'s counters,
// kept by this process; golden lab ratelimits), soft_bounce,
// maximal_queue_lifetime, bounce_queue_lifetime, minimal_backoff_time,
// maximal_backoff_time, delay_warning_time, smtpd_banner,
// smtpd_tls_security_level, smtpd_tls_cert_file, smtpd_tls_key_file,
// smtpd_tls_chain_files, smtp_tls_security_level, smtp_tls_policy_maps,
// smtp_tls_CAfile, compatibility_level. Postfix behaviour: smtpd(8)'s
// error counting (TARPIT CONTROLS) and per-transaction limits, its
// greeting, EHLO reply and Received: header (smtpd.c), the queue ID
// made at the first accepted RCPT (smtpd_delay_open_until_valid_rcpt),
// relay_transport as a delivery service of its own, the retry schedule
// and queue lifetimes of qmgr(8) (qmgr_active.c), bounce(8)'s DSN
// messages, this host's own addresses for the MX rule (inet_interfaces,
// proxy_interfaces; smtp_addr.c), and, through policy and transport,
// trivial-rewrite(8)'s address classes, relay_domains, relayhost and
// relay_recipient_maps with their RCPT replies (smtpd_check.c).
//
// Server speaks SMTP through the project's engine, package relay/smtpd:
// every reply is Postfix's by construction (a golden test replays 339
// sessions recorded from Postfix 3.7's smtpd), with STARTTLS, PIPELINING
// and reject_unauth_pipelining, CHUNKING, VRFY through the recipient
// restrictions, ETRN for fast_flush_domains, the HAProxy PROXY protocol
// (smtpd_upstream_proxy_protocol) and per-client connection limits with
// smtpd_client_event_limit_exceptions. MX is also a go-smtp Backend, to
// mount in a go-smtp server of your own; there go-smtp speaks SMTP (see
// MX.NewSession for what it then decides). Our own failures (a queue
// that cannot write, a table that cannot be read) are 4xx replies that
// never carry internal text; the cause is logged.
//
// # Message authentication (mxrelay's own parameters)
//
// With Config.Auth (package policy/msgauth), the end of DATA checks SPF
// for the client, every DKIM signature and DMARC, removes any
// Authentication-Results field that claims our authserv-id (RFC 8601
// section 5) and adds ours below our Received: field; a DMARC failure
// under p=reject is refused with "550 5.7.1". Postfix does this in
// milters, so its main.cf parameters are mxrelay's own, unknown to
// Postfix (maincf.Own), read in config_msgauth.go:
//
//	mxrelay_message_authentication = yes     # default no
//	mxrelay_authserv_id = mx1.example.net    # default $myhostname
//	mxrelay_dkim_signature_limit = 10        # signatures verified per message
//	mxrelay_spf_trusted_forwarders = 192.0.2.10 198.51.100.0/28   # no SPF for them
//	mxrelay_dmarc_reject_action = reject     # or hold, annotate
//	mxrelay_dmarc_quarantine_action = annotate   # or hold, reject
//
// Each message checked logs one "message authentication" record with
// the spf, dkim and dmarc results and the action taken. A program that
// decides for itself gives LoadOptions.AuthDecide (or builds its own
// msgauth.Checker with Config.Decide for Config.Auth): it receives the
// typed msgauth.Results of each message and returns Annotate, Hold or
// Reject.
//
// # Logging and metrics
//
// The Logger gets the events Postfix logs, as records named by package
// maillog's constants with the fields of Postfix's lines: connect and
// disconnect (with the command counts), each rejected command, the queue
// ID's client, each queued message (its Message-ID), each claim for
// delivery (from, size, nrcpt), one line per recipient per delivery
// attempt (queue_id, to, orig_to, relay, delay, delays, dsn, status
// sent|deferred|bounced|expired, reason), including recipients deferred
// because their destination is suspended, each notification sent, and
// each removal. slog's text and JSON handlers print them as they are;
// maillog.Handler writes them as Postfix 3.7's lines, for pflogsumm and
// the other tools made for Postfix's logs. An Observer gets the same
// events as values, for metrics (package metrics serves them to
// Prometheus), without any global registry.
//
// # Deliberate differences from Postfix
//
//   - There is no local(8) or virtual(8) delivery: a recipient of
//     $mydestination or of a virtual mailbox domain whose route stays on
//     the local or virtual transport is refused at RCPT with 550 5.1.1
//     "User unknown in local recipient table" (or "virtual mailbox
//     table"), and a route to any other transport the relay lacks defers
//     at RCPT (450 4.3.5), where Postfix would accept the mail. Accepting
//     it would mean holding it for maximal_queue_lifetime and then
//     bouncing it to a sender who may be forged. Route such domains with
//     transport_maps (smtp:, lmtp:) to deliver them.
//   - Bare CR and bare LF in message content are refused with "550 5.5.2
//     Error: bare <LF> received" (or <CR>), or with BareNormalize turned
//     into CRLF; the message ends only at CR LF "." CR LF. Postfix 3.7
//     accepts bare LF by default (smtpd_forbid_bare_newline = no) and
//     passes bare CR on, which is what SMTP smuggling exploits.
//   - HELO or EHLO is always required before MAIL and ETRN (as Postfix's
//     smtpd_helo_required = yes), and again after STARTTLS (RFC 3207
//     section 4.2): Postfix, by default, accepts MAIL without it.
//   - An address with a control character, even quoted, is refused as
//     bad syntax: it could end a line in a header, a DSN or a queue
//     record. A PROXY version 1 header must follow the specification's
//     syntax exactly (Postfix also takes runs of spaces and bare LF).
//   - Server accepts up to 2,000 connections (ServerConfig.MaxConnections),
//     not Postfix's default_process_limit of 100: an idle session costs
//     about 7 to 8 KB here, not a process, and 100 slots are what a few
//     hostile clients fill. A number in the maxproc column of master.cf's
//     port-25 smtpd services is taken as the limit
//     (maincf.File.SMTPDProcessLimit); "-" keeps 2,000. From 80% of the
//     limit on, new sessions get the stress limits of Postfix's smtpd
//     (the ${stress?...} values of smtpd_timeout, smtpd_hard_error_limit,
//     smtpd_junk_command_limit).
//   - Mounted in a go-smtp server of your own (MX.NewSession), go-smtp
//     decides the protocol: its reply texts, address and parameter
//     syntax, VRFY, no ETRN, its own limits. The relay's decisions and
//     their replies are the same.
//   - Nothing is written to the queue before the end of DATA; the queue
//     ID exists from the first accepted RCPT (as with Postfix's
//     smtpd_delay_open_until_valid_rcpt = yes), and a write failure is
//     "451 4.3.0 Error: queue file write error" at the end of DATA.
//   - A returned message larger than bounce_size_limit (50000) is returned
//     as headers only (text/rfc822-headers), not truncated. Delay and
//     success reports carry the headers only, as Postfix's do.
//   - A worker that dies after recording outcomes leaves their recipients
//     without queue's Notified mark; the next worker to claim the message
//     sends their DSNs first. Only a crash between queuing a DSN and
//     marking it can send that DSN twice; a bounce is never lost.
//   - smtp_tls_security_level unset means "may" (Postfix's built-in
//     default is "none"; Debian sets "may"). smtpd_tls_security_level =
//     encrypt offers STARTTLS without requiring it.
//   - A main.cf without compatibility_level gets Postfix's level-0
//     defaults, exactly as Postfix does (relay_domains = $mydestination),
//     with a warning from Load.
package relay
