// Package cleanup is mxrelay's cleanup stage: what Postfix's cleanup(8)
// does to a message between "250 queued" and delivery.
//
// Canonical maps (Postfix's cleanup_addr.c and cleanup_map11.c): the
// envelope sender is rewritten by sender_canonical_maps, then
// canonical_maps; each envelope recipient by recipient_canonical_maps,
// then canonical_maps; each map only for the classes of its
// canonical_classes, sender_canonical_classes or
// recipient_canonical_classes (Classes). A rewrite is one-to-one (the
// first address of a list, with a warning) and is followed up to ten
// times; a table failure refuses the message (451 4.3.0 "Error: queue
// file write error"). The null sender is not mapped.
//
// Virtual aliases: the envelope recipients, after canonical mapping, are
// expanded by virtual_alias_maps (Postfix's cleanup_map1n.c and
// mail_addr_map.c):
//
//   - one-to-many expansion: a table value lists addresses, separated by
//     commas or white space (SplitAddresses);
//   - recursion: every address found is looked up again, up to
//     virtual_alias_recursion_limit lookups, and an address that expands
//     into itself (user@example.com -> user@example.com, copy@example.net)
//     is kept and not looked up again;
//   - the keys of mail_addr_find: user+ext@domain, user@domain, the bare
//     localpart for $myorigin and local domains, then @domain (the
//     catch-all); an extension that only the shorter key matched is added
//     to every result (propagate_unmatched_extensions = virtual), but not
//     to the result of a catch-all;
//   - a value "@other.example" keeps the localpart; a value without a
//     domain gets @$myorigin;
//   - an expansion beyond virtual_alias_expansion_limit addresses, deeper
//     than virtual_alias_recursion_limit, with an address longer than
//     virtual_alias_address_length_limit, or a table failure refuses the
//     message: "451 4.6.0 Alias expansion error" after DATA, as Postfix.
//
// The relay (relay.Config.Cleanup, built by relay.Load from main.cf)
// stores the expanded recipients, each with its original recipient as
// ORCPT, so that the delivery log says orig_to= and a DSN names the
// original as Original-Recipient, as Postfix's do. The RCPT-time check
// (an unknown user of a virtual_alias_domains domain is "550 5.1.1 User
// unknown in virtual alias table") is policy's reject_unlisted_recipient.
//
// Address masquerading (cleanup_masq.c): after the canonical maps, an
// address below one of masquerade_domains loses its subdomain
// (user@host.example.com -> user@example.com); the first domain of the
// list that matches decides, "!domain" or a domain equal to the
// address's keeping it; masquerade_exceptions names users left alone;
// masquerade_classes says which addresses (by default the envelope
// sender and the header addresses of local clients; golden
// configurations masquerade and masqclasses).
//
// Automatic BCC recipients (cleanup_addr.c, cleanup_extracted.c, see
// Cleanup.Envelope): sender_bcc_maps gives an address for the envelope
// sender, recipient_bcc_maps one for each recipient (after canonical
// maps), always_bcc one for every message with a recipient; each is
// rewritten as a recipient (local context, canonical maps, virtual
// aliases) and queued with NOTIFY=NEVER, in Postfix's order.
//
// Content checks (cleanup_message.c and mime_state.c, see Cleanup.Check):
// header_checks on each field of the message header (a folded field is
// one text, its lines joined by a newline), mime_header_checks on the
// headers of MIME parts, nested_header_checks on the headers of attached
// messages, and body_checks on each body line that starts within
// body_checks_size_limit bytes of its part, with Postfix's actions
// REJECT (550 5.7.1 "message content rejected", or the text's own code;
// 4.x.x gives 451), DISCARD, HOLD, REDIRECT, BCC, WARN, INFO, IGNORE,
// STRIP, PREPEND, REPLACE, PASS, FILTER (Verdict.Filter: the last one
// names the content filter the relay sends the message to), DUNNO and
// OK. The message is read whole before it is queued (at most
// message_size_limit bytes).
//
// Headers (Postfix's cleanup_message.c): the address headers (From:,
// Sender:, Reply-To:... of the header_sender class; To:, Cc:, Bcc:... of
// header_recipient) of a message from a client of
// local_header_rewrite_clients (Config.LocalClient; by default the
// addresses of inet_interfaces) are read as RFC 822 address lists as
// Postfix's tok822 reads them; each address gets trivial-rewrite's local
// context (a source route dropped, "site!user" and "user%domain" turned
// around, @$myorigin added to a bare localpart) and then the canonical
// maps of the header's class; a field that changed is written again in
// Postfix's form (one space after commas, comments beside their address)
// and folded before 70 columns. Headers of other clients are left as
// they are, as Postfix leaves them when remote_header_rewrite_domain is
// empty (golden configurations canonical and canonclasses, from
// 127.0.0.2, and canonlocal, from 127.0.0.1).
//
// At delivery, the relay applies the delivery agents' checks
// (smtp_header_checks, smtp_mime_header_checks, smtp_nested_header_checks,
// smtp_body_checks, and the lmtp_ ones for LMTP; Config.SMTPChecks and
// LMTPChecks, Cleanup.CheckDelivery) to the text it sends, with the
// actions that only edit it: IGNORE, STRIP, PREPEND, REPLACE, WARN,
// INFO; the others are logged as unsupported, as header_body_checks.c
// (golden delivery/smtphbc).
//
// Every message loses the header fields message_drop_headers names
// (Config.DropHeaders; Bcc:, Content-Length:, Resent-Bcc: and
// Return-Path: by default) from its primary header; a local client's
// message (or every message, with always_add_missing_headers) gets the
// Message-Id:, Date: and From: it lacks, and undisclosed_recipients_header
// when it shows no recipient, as Resent- fields when it has Resent- ones
// (cleanup_header_done_callback); and a header ended by a line that is
// no header field gets the empty line it lacks (Cleanup.FinishHeader;
// golden configurations hdrdrop and hdradd).
//
// Differences from Postfix 3.7, not yet closed:
//
//   - MIME is parsed as far as the checks need (multipart boundaries,
//     message/rfc822 parts, Content-Type of each header section); Postfix's
//     checks of MIME syntax and encodings (strict_mime_encoding_domain
//     and the like) and 8BITMIME downgrading are not done;
//   - remote_header_rewrite_domain is not read (it is Postfix's
//     "rewrite the headers of every client"); append_dot_mydomain = yes
//     is refused by relay/maincf (it is no since compatibility_level 1);
//   - a NOTIFY=SUCCESS recipient that expands is not answered with an
//     "expanded" success DSN; its expansions keep NOTIFY=SUCCESS, so the
//     sender may get a "relayed" DSN for each;
//   - a recipient rewritten by a canonical map keeps its RCPT TO address
//     as ORCPT (the log's orig_to=, as Postfix's), where Postfix's DSN
//     names the canonical address as Original-Recipient.
//
// Example:
//
//	virtual, _ := lookup.Open(ctx, "texthash:/etc/postfix/virtual", nil)
//	cl, err := cleanup.New(cleanup.Config{
//		VirtualAlias:     []lookup.Table{virtual},
//		PropagateVirtual: true,
//		MyOrigin:         "mx.example.net",
//	})
//	rcpts, err := cl.Recipients(ctx, queueID, []string{"sales@example.com"})
//	// rcpts: {alice@example.net sales@example.com} {bob@example.net sales@example.com}
package cleanup
