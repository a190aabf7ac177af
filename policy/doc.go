// Package policy decides, for each SMTP command, whether a client may send
// mail to a recipient, exactly as Postfix 3.7's smtpd decides it: the
// relay check, recipient validation of a backup MX, access tables, policy
// servers. It is the part of an MX where a mistake makes an open relay or
// a backscatter source, so it is built to be unit-tested: every decision
// is a value with the SMTP reply Postfix would send and the restriction
// and table entry that decided.
//
// policy uses lookup for tables, lists and address classes, and never
// transport: where it needs routing (to refuse error: and retry: routes at
// RCPT) it asks a Routes interface that the embedding program wires to
// transport.
//
// # Worked example
//
// A backup MX for example.com and example.org, that knows the valid
// recipients (relay_recipient_maps, so it never accepts mail it would
// bounce later), trusts its own network and blocks one sender:
//
//	p, err := policy.New(ctx, policy.Config{
//		MyHostname:         "mx2.example.net",
//		MyNetworks:         "192.0.2.0/24",
//		RelayDomains:       "example.com, example.org",
//		RelayRecipientMaps: "cdb:/etc/postfix/relay_recipients",
//		RecipientDelimiter: "+",
//		SMTPDRecipientRestrictions: "check_sender_access hash:/etc/postfix/senders",
//	})
//	if err != nil {
//		return err // a missing table, an unknown restriction, an open relay
//	}
//	defer p.Close()
//	for _, w := range p.Warnings() {
//		log.Print(w) // configuration traps
//	}
//	d := p.Check(ctx, &policy.Request{
//		Stage:      policy.StageRcpt,
//		ClientAddr: netip.MustParseAddr("203.0.113.7"),
//		Helo:       "mail.sender.example",
//		Sender:     "<someone@sender.example>",
//		Recipient:  "<bob+lists@example.com>",
//	})
//	// d.Verdict is Permit, Reject or Defer; d.Reply() is the SMTP reply:
//	//   250 2.1.5 Ok                               bob@example.com is listed
//	//   550 5.1.1 <bob+lists@example.com>: Recipient address rejected:
//	//       User unknown in relay recipient table  he is not
//	//   454 4.7.1 <x@elsewhere.example>: Relay access denied
//	// d.Reason says which restriction and which table entry decided.
//
// A unit test of your own policy is the same few lines with a Config that
// uses inline: tables (or Config.Tables with lookup.NewMap) and a
// comparison of d.Reply():
//
//	func TestMyPolicy(t *testing.T) {
//		p, err := policy.New(context.Background(), policy.Config{
//			InetInterfaces:     "loopback-only",
//			RelayDomains:       "example.com",
//			RelayRecipientMaps: "inline:{ alice@example.com=x }",
//		})
//		if err != nil {
//			t.Fatal(err)
//		}
//		defer p.Close()
//		for rcpt, want := range map[string]string{
//			"<Alice@Example.COM>":     "250 2.1.5 Ok",
//			"<bob@example.com>":       "550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown in relay recipient table",
//			"<eve@elsewhere.example>": "454 4.7.1 <eve@elsewhere.example>: Relay access denied",
//		} {
//			d := p.Check(context.Background(), &policy.Request{Stage: policy.StageRcpt,
//				ClientAddr: netip.MustParseAddr("203.0.113.7"), Sender: "<a@sender.example>", Recipient: rcpt})
//			if d.Reply() != want {
//				t.Errorf("RCPT %s: %s, want %s", rcpt, d.Reply(), want)
//			}
//		}
//	}
//
// (The same test is the package example, with // Output:.) A Request
// must have its Stage set; a zero Stage or a nil Request is a 451 4.3.5
// decision whose Err names the mistake. relay.PolicyConfig carries a
// Postfix main.cf over.
//
// # What a Request goes through
//
// At RCPT (with smtpd_delay_reject = yes, the default, the client, HELO
// and sender restrictions are evaluated here too):
//
//  1. The recipient is parsed (ParseAddress): syntax errors give 501 5.1.3,
//     source routes are stripped, quoted localparts unquoted.
//     "<postmaster>" without a domain is accepted here (RFC 5321 4.5.1),
//     before any restriction or recipient validation, as in Postfix.
//  2. smtpd_client_restrictions, smtpd_helo_restrictions and
//     smtpd_sender_restrictions, then smtpd_relay_restrictions and
//     smtpd_recipient_restrictions (relay list first with
//     smtpd_relay_before_recipient_restrictions = yes). Each list runs left
//     to right until a restriction permits or rejects; a permit ends only
//     that list.
//  3. A remembered defer_if_permit turns a permit into its 4xx reply (before
//     step 4, as Postfix does; a remembered defer_if_reject still turns
//     step 4's 5xx into its 4xx).
//  4. The implicit reject_unlisted_recipient (smtpd_reject_unlisted_recipient,
//     Postfix's check_rcpt_maps): canonical and virtual alias maps (a
//     match accepts), relocated_maps (before any transport route) and
//     error:/retry: routes, then the recipient table of the address
//     class: relay_recipient_maps for relay domains (empty: every
//     localpart accepted), local_recipient_maps, virtual_mailbox_maps, or
//     Config.Recipients. It runs for trusted clients too, and after an
//     access table said OK.
//
// At CONNECT, HELO and MAIL (with smtpd_delay_reject = yes) Check answers
// Continue, except for a MAIL FROM path that does not parse (501 5.1.7) or
// a SIZE above message_size_limit (552 5.3.4). At DATA it runs
// smtpd_data_restrictions ("<DATA>: Data command rejected: ..."); set
// Request.Recipient when the transaction has exactly one recipient, so
// recipient restrictions there apply to it, as in Postfix.
//
// An address is source-routed (see allow_untrusted_routing in
// postconf(5)) when its localpart still holds '@', '!' or '%' after
// resolution; a local address whose localpart routes
// elsewhere ("user@site"@local, "site!user@local", "user%site@local") is
// first resolved there (always for '@'; swap_bangpath, allow_percent_hack),
// so it is judged by where it goes, as trivial-rewrite does; when that
// domain is not a valid host name ("u@1.2.3.4"@local), the answer is 501
// 5.1.3 before any restriction. Non-ASCII domains (with SMTPUTF8) are
// checked for label syntax and looked up as received, not converted to
// A-labels, as Postfix 3.7's smtpd does (golden configuration review).
//
// # Restrictions
//
// permit_mynetworks, permit_sasl_authenticated, permit_auth_destination,
// reject_unauth_destination, defer_unauth_destination,
// reject_unlisted_recipient, check_recipient_access, check_sender_access,
// check_client_access, check_helo_access, reject_non_fqdn_recipient,
// reject_non_fqdn_sender, reject_invalid_helo_hostname,
// reject_non_fqdn_helo_hostname, reject_unknown_recipient_domain and
// reject_unknown_sender_domain (DNS through Config.Resolver),
// reject_unknown_helo_hostname (reject_unknown_hostname: an A, AAAA or
// MX record; unknown_hostname_reject_code),
// reject_unknown_client_hostname (reject_unknown_client) and
// reject_unknown_reverse_client_hostname (unknown_client_reject_code; the
// names come from LookupClientNames, which relay calls once per session
// as smtpd_peer.c: a PTR name, verified when its A or AAAA records
// include the client; golden lab clientnames), the DNS lists reject_rbl_client, reject_rhsbl_client,
// reject_rhsbl_reverse_client, reject_rhsbl_helo, reject_rhsbl_sender,
// reject_rhsbl_recipient, permit_dnswl_client and permit_rhswl_client
// (DNS through Config.DNS; see DNS lists below),
// check_reverse_client_hostname_access (the unverified client name and
// its parents, then the address; golden lab revclient),
// check_{client,reverse_client_hostname,helo,sender,recipient}_{mx,ns,a}_access
// (see Server access below),
// permit_mx_backup (see Backup MX by DNS below),
// reject_unlisted_sender (the sender validated as a recipient would be,
// "550 5.1.0 <a@b>: Sender address rejected: User unknown in relay
// recipient table"; smtpd_reject_unlisted_sender adds it to the end of
// the sender restrictions), reject_unknown_address (the sender's
// reject_unknown_sender_domain), reject_multi_recipient_bounce (a null
// sender with a second recipient: 550 5.5.3 "Multi-recipient bounce",
// at RCPT after one accepted recipient, at DATA with more than one),
// permit_inet_interfaces (a client at one of inet_interfaces' addresses,
// not proxy_interfaces'), a bare type:table ("hash:/etc/postfix/access"
// as a list entry: the access restriction of the list's stage,
// check_client_access in smtpd_client_restrictions... A restriction
// class takes the stage of the list that named it; in
// smtpd_data_restrictions it is a 451 4.3.5 configuration error, as in
// Postfix), reject_sender_login_mismatch,
// reject_authenticated_sender_login_mismatch,
// reject_known_sender_login_mismatch and
// reject_unauthenticated_sender_login_mismatch (accepted and ignored,
// with a Warnings entry, as Postfix ignores them without SASL: mxrelay's
// SMTP server has no AUTH; smtpd_sender_login_maps is opened but never
// consulted; golden lab senderchecks, senderchecks2),
// check_policy_service (the Postfix policy delegation protocol,
// SMTPD_POLICY_README),
// permit, reject, defer, dunno, defer_if_permit,
// defer_if_reject, warn_if_reject, restriction classes
// (smtpd_restriction_classes), and restrictions written in Go
// (Config.Restrictions, CheckFunc), whose answer is an access(5) action.
// ParseRestrictions reads a list; the Restriction values (PermitMynetworks,
// CheckRecipientAccess...) build one in Go.
//
// Access table values follow access(5) completely: OK, RELAY and
// all-digit values permit; REJECT and DEFER with optional text and
// enhanced status code; "4xx/5xx [x.y.z] text" with the DSN class forced to
// the reply code's and address codes mapped to recipient or sender
// variants (smtpd_dsn_fix); DUNNO stops the search at shorter keys;
// DEFER_IF_PERMIT and DEFER_IF_REJECT; a regexp: or cidr: table is asked
// only the complete address, client name and address, or HELO name, never
// the derived keys (and in recipient maps, only the complete address); DISCARD and HOLD are reported in
// the Decision (Discard, Hold); PREPEND, REDIRECT, BCC, FILTER, WARN and
// INFO are reported as Actions; 421 sets EndSession; other words are
// restriction names (a table lookup there, or an unknown word, gives 451
// 4.3.5 Server configuration error). A table that fails never gives a
// 5xx: a recipient map or a domain list answers 451 4.3.0 "Temporary
// lookup failure" (451 4.3.5 for a configuration error), an access table
// "451 4.3.5 <name>: ... rejected: Server configuration error", as Postfix
// does (golden configuration tablefail).
//
// # DNS lists
//
// A list is written "domain" or "domain=filter", the filter matching the
// A record the list answers with ("zen.example=127.0.0.[2..11;20]"). The
// client address is asked reversed (2.0.0.127.zen.example), an IPv6
// address as 32 reversed nibbles; the reject_rhsbl_* restrictions ask
// the domain of the client name, reverse client name, HELO name, sender
// or recipient (not address literals, not names ending in a numeric
// label). A listing is answered with the rbl_reply_maps entry for the
// list as written, else default_rbl_reply, with $rbl_code
// (maps_rbl_reject_code), $rbl_domain, $rbl_what, $rbl_class and
// $rbl_reason (the list's TXT records joined with " / ", at most 500
// bytes) and smtpd's $client_address, $client_name, $helo_name,
// $sender, $recipient...:
//
//	smtpd_client_restrictions = permit_dnswl_client list.dnswl.example=127.0.[0..255].[1..3],
//	    reject_rbl_client zen.example=127.0.0.[2..11], reject_rhsbl_sender dbl.example
//	rbl_reply_maps = inline:{ zen.example=127.0.0.[2..11]="554 5.7.1 $client_address is listed at $rbl_domain" }
//
// A list whose DNS fails lists nobody (the mail is not refused for it);
// an allowlist whose DNS fails is a defer_if_reject (450 4.7.1 "Service
// unavailable"), so that a later blocklist cannot refuse for good a
// client it might have vouched for; an allowlist never permits a
// recipient this server does not relay for. Every DNS question is
// bounded by Config.DNSTimeout and asked once per SMTP session when the
// Request carries the session's Session (relay does this); the
// resolver's cache keeps answers for their TTL.
//
// # Server access
//
// check_<what>_mx_access, check_<what>_ns_access and check_<what>_a_access
// (what: client, reverse_client_hostname, helo, sender, recipient) look
// up the servers of a name's domain in an access table, as smtpd_check.c
// check_server_access: the MX hosts (the domain itself when it has no MX
// or does not exist; nothing for a null MX), the NS hosts (of the nearest
// parent domain that has some), or for _a_ the domain itself. Each host
// is looked up by its name and parents (not for _a_), then by each of its
// addresses of the families inet_protocols enables (Config.Network) and
// their networks (198.51.100.7, 198.51.100, ...; a cidr: table matches
// them). An address literal ("u@[192.0.2.1]", "EHLO [192.0.2.1]") is
// its own MX host and A record, with no NS. The client checks are skipped
// for a client whose name is unknown, the sender checks for the null
// sender. A DNS failure skips what it hides (Postfix logs "Unable to look
// up ..." and goes on): these checks never refuse for want of DNS. An OK
// answer is refused with "451 4.3.5 Server configuration error", as
// Postfix refuses it ("use DUNNO instead of OK"), since the names are the
// client's to choose; the same holds for
// check_reverse_client_hostname_access. Golden lab serveraccess:
//
//	smtpd_sender_restrictions = check_sender_mx_access cidr:/etc/postfix/bogus_mx,
//	    check_sender_ns_access hash:/etc/postfix/blocked_ns
//	smtpd_client_restrictions = check_reverse_client_hostname_access pcre:/etc/postfix/dynamic
//
// Every DNS question is asked once per session (Request.Session); at
// most 20 MX or NS hosts of a domain are followed, and all the questions
// of one check (and of one permit_mx_backup) together take at most
// Config.DNSTimeout: what is not answered by then counts as a DNS
// failure.
//
// # Backup MX by DNS
//
// permit_mx_backup is Postfix's older backup-MX recipe: it permits a
// recipient whose domain lists this host as an MX of a worse preference
// than the best, when no best-preference MX host is this host. A host is
// this host when its name is in mydestination, else when one of its
// addresses (of the inet_protocols families) is one of inet_interfaces
// or proxy_interfaces. With permit_mx_backup_networks, every address of
// every best-preference MX host must be in it too (or the host's name,
// as mynetworks matches). Local, alias, virtual and relay domains are
// permitted as permit_auth_destination permits them; address literals,
// source-routed recipients, domains without MX records and a null MX
// are not. A DNS failure never permits and never refuses for good: it is
// remembered as a defer_if_reject 450 4.4.4 with Postfix's text ("Unable
// to look up mail exchanger information: Host not found, try again",
// "Unable to look up mail exchanger host mx.example: Temporary failure
// in name resolution"), so the relay check's 554 becomes that 450.
// Golden lab mxbackup and mxbackup_networks:
//
//	smtpd_relay_restrictions = permit_mynetworks, permit_mx_backup, reject_unauth_destination
//	permit_mx_backup_networks = 192.0.2.0/24
//
// Postfix's own documentation prefers relay_domains with
// relay_recipient_maps, which know the valid recipients; permit_mx_backup
// accepts any recipient of such a domain.
//
// defer_if_reject and warn_if_reject last for one protocol stage (client,
// HELO, sender, or the relay and recipient lists together); a
// defer_if_permit lasts for the whole RCPT decision (smtpd_check.c's
// SMTPD_CHECK_RESET).
//
// # Postfix parameters
//
// Config has one field per parameter: myhostname, myorigin, mydestination,
// inet_interfaces, proxy_interfaces, mynetworks, relay_domains,
// virtual_alias_domains, virtual_mailbox_domains, relay_recipient_maps,
// local_recipient_maps, virtual_alias_maps, virtual_mailbox_maps,
// canonical_maps, recipient_canonical_maps, relocated_maps,
// parent_domain_matches_subdomains, recipient_delimiter,
// smtpd_null_access_lookup_key,
// owner_request_special, smtpd_{client,helo,sender,relay,recipient,data}_restrictions,
// smtpd_restriction_classes, smtpd_relay_before_recipient_restrictions,
// smtpd_reject_unlisted_recipient, smtpd_delay_reject,
// show_user_unknown_table_name, allow_percent_hack, swap_bangpath,
// allow_untrusted_routing,
// soft_bounce, the
// *_reject_code and *_defer_code parameters, smtpd_recipient_limit,
// message_size_limit, the smtpd_policy_service_* parameters,
// rbl_reply_maps, default_rbl_reply, maps_rbl_reject_code,
// unknown_address_tempfail_action, unknown_hostname_reject_code,
// unknown_client_reject_code, smtpd_peername_lookup,
// unknown_helo_hostname_tempfail_action, permit_mx_backup_networks,
// smtpd_reject_unlisted_sender, multi_recipient_bounce_reject_code,
// smtpd_sender_login_maps and inet_protocols (Network).
//
// Sources: Postfix 3.7's smtpd_check.c (the restrictions, access table
// actions, reject_unlisted_recipient, the open-relay startup check) and
// trivial-rewrite's resolve.c (address classes, source routes); the man
// pages postconf(5), access(5), relocated(5) and transport(5);
// SMTPD_POLICY_README (check_policy_service); key orders through lookup
// (mail_addr_find.c, check_mail_access). RFC 5321 (paths, reply codes),
// RFC 3463 (enhanced status codes), RFC 7505 (null MX).
//
// Checked against Postfix: testdata/golden holds 962 RCPT commands over 38
// configurations, answered by a real Postfix 3.7.11 smtpd (gen.py makes
// them); TestGolden requires the same reply code, enhanced status code
// and text for every one of them, except the deliberate differences
// listed below (and in TestGolden). What needs DNS is in testdata/lab:
// case files (main.cf, maps, a DNS zone with SERVFAIL names, SMTP
// sessions) in rcpt/, and in want/ what Postfix 3.7.11 answered with
// its own DNS server serving the zone, recorded with postfix-lab
// (POSTFIX_LAB_CASES=policy/testdata/lab python3
// ../shared/tools/postfix-lab/lab.py run --out /tmp/x, then copy
// /tmp/x/rcpt/*.json to want/). TestLab replays every session through a
// relay loaded from the same main.cf with an in-process DNS server
// serving the same zone.
//
// # Address verification
//
// reject_unverified_recipient and reject_unverified_sender ask
// Config.Verifier (relay.Verifier probes the next hop as Postfix's
// verify(8) does, and caches the answers) and reply as smtpd_check.c:
// an undeliverable address gets unverified_*_reject_code (450 by
// default; a backup MX sets 550) with "undeliverable address: REASON"
// ("unverified address" when the code is 4xx), an address whose probe
// failed for now or is still running gets unverified_*_defer_code
// ("unverified address: Address verification in progress"), the null
// sender is never verified, and a failure of the Verifier itself follows
// unverified_*_tempfail_action with "address verification problem". The
// statuses are 4.1.1/5.1.1 for a recipient and 4.1.7/5.1.7 for a
// sender. relay's TestVerifyLab compares them with Postfix 3.7.11's.
//
// # Deliberate differences from Postfix 3.7
//
//   - Configuration errors are found by New, not at the first mail: an
//     unknown restriction name, a restriction Postfix has but policy does
//     not implement,
//     reject_unverified_recipient or _sender without a Verifier,
//     check_client_hostname_access (which no Postfix version has: Postfix
//     answers every mail 451 4.3.5 for it; New names check_client_access and
//     check_reverse_client_hostname_access instead),
//     reject_unknown_recipient_domain without a
//     Resolver or a DNS list without Config.DNS, a DNS list result filter
//     or a default_rbl_reply that does not parse, a table that cannot be
//     opened. Postfix answers 451 4.3.5 at run time (or stops, for a bad
//     filter). Only table values (run-time data) still give 451 4.3.5.
//   - The open-relay guard is Postfix's (smtpd refuses to start without
//     reject_unauth_destination or the like); the traps Postfix does not
//     report (".domain" in relay_domains that matches nothing, a relay
//     domain also local, an empty relay_recipient_maps, "domain" keys in
//     it, a relay_recipient_maps nothing consults, a permissive
//     restriction before the relay check, allow_untrusted_routing = yes)
//     are reported by Warnings. cdb: recipient tables are not scanned for "domain" keys.
//   - Address syntax follows Postfix's smtpd (blanks around '@' and '.',
//     a backslash quoting one character, "<<a@b>>", a trailing comma are
//     accepted; two words in a row are two addresses and refused), with
//     these exceptions, all answered 501 5.1.3: RFC 822 comments
//     ("user@ex(c)ample.com"), malformed UTF-8 (Postfix: 500 5.5.2), an
//     IPv4 literal with a leading zero ("[0177.0.0.1]", which Postfix
//     reads as octal 127, one of its own addresses; RFC 5321 allows 1-3
//     decimal digits), an address ending in '@' after its domain
//     ("u@example.com@", which Postfix's resolver shortens to
//     u@example.com), addresses longer than 2048 bytes. The leading-zero
//     literal and the trailing '@' are the golden cases TestGolden lists
//     as deliberate.
//   - A domain-list entry with a trailing dot ("relay_domains =
//     example.com.") matches example.com and its subdomains; Postfix 3.7
//     matches nothing with it (golden configuration lists). lookup's lists
//     ignore one trailing dot everywhere; Warnings reports the entry in
//     relay_domains so the configuration reads the same in both.
//   - inet_interfaces/proxy_interfaces take addresses, "all" or
//     "loopback-only"; host names are refused (no DNS at startup).
//   - Zero values: mydestination, mynetworks and local_recipient_maps are
//     empty unless set (relay.PolicyConfig applies Postfix's defaults
//     for mydestination and mynetworks, and no local recipient check).
//     An embedded relay has no local mailboxes unless told.
//   - check_policy_service keeps a small pool of connections per server
//     (Postfix: one per smtpd process), so concurrent sessions do not wait
//     for each other; replies are capped at 64 KiB; an idle connection the
//     server closed meanwhile is redialled without counting as one of the
//     smtpd_policy_service_try_limit attempts. policy knows it by a reused
//     connection that ends (EOF or reset) before any reply, so a server
//     that closes a reused connection instead of answering gets one
//     request more than from Postfix, which checks the connection for EOF
//     before writing (golden configuration policy; robust against a
//     server's close racing our next request).
//   - DISCARD, HOLD, PREPEND, REDIRECT, BCC and FILTER are reported, not
//     carried out: the caller applies them to the message. Request.Discard
//     carries an earlier DISCARD through the transaction, after which every
//     recipient is accepted as in Postfix.
//   - smtpd_soft_error_limit/smtpd_hard_error_limit are left to the
//     SMTP server, which counts errors per session.
//   - With smtpd_delay_reject = no (discouraged by Postfix), a
//     defer_if_permit from the client, HELO or sender restrictions is
//     answered at that stage (4xx); Postfix accepts the command and
//     carries the defer to each RCPT. Answering early is the safer side,
//     and policy keeps no state between Requests. (Checked with the
//     oracle: after a CONNECT rejection Postfix answers every later
//     command "503 5.7.0 Error: access denied for NAME[ADDR]"; a HELO
//     rejection does not stop MAIL and RCPT. Both are the SMTP server's
//     to do.)
//   - reject_unknown_recipient_domain and reject_unknown_sender_domain
//     answer as Postfix (450 4.1.2 / 4.1.8 Domain not found, 556 5.1.10 /
//     550 5.7.27 for a null MX; a DNS failure is a defer_if_permit with
//     450 4.1.2 / 4.1.8, or an immediate 450 with
//     unknown_address_tempfail_action = defer; golden lab unknowndomain).
//   - A reply template (rbl_reply_maps, default_rbl_reply) with a
//     relational expression (${{$a} == {b} ? ...}) or $localtime is a
//     bad template: an rbl_reply_maps entry falls back to
//     default_rbl_reply, default_rbl_reply itself is refused by New.
//   - DNS list answers are cached per SMTP session (Postfix: per smtpd
//     process, for up to 100 lookups); the resolver's cache honours TTLs.
//   - check_*_{mx,ns}_access and permit_mx_backup follow at most 20 MX or NS hosts of a domain
//     (Postfix: all of them), so that a hostile domain costs a bounded
//     number of lookups; the host addresses come from DNS A/AAAA records
//     (Postfix asks getaddrinfo, which also reads /etc/hosts).
//   - The lab's DNS cannot time out a query: DNS timeouts are checked
//     against our own tests only (they are temporary failures, as
//     SERVFAIL, which the lab cases cover).
package policy
