// Package milter is mxrelay's client of the Sendmail milter protocol
// (libmilter's, versions 2 to 6), with Postfix 3.7's semantics (its
// src/milter/milter8.c, milter.c and cleanup/cleanup_milter.c): the
// milters of smtpd_milters are told of each SMTP event and may refuse it,
// and at the end of the message they see its header and body and may
// change them.
//
// A Session is the milters of one SMTP session. Connect dials each
// milter (milter_connect_timeout) and negotiates: Postfix's actions
// (add, change, insert and delete header, replace body, add and delete
// recipient, with ESMTP arguments, change sender, quarantine, macro
// lists) and the events of the protocol version of milter_protocol ("6",
// optionally "no_header_reply"); an older milter gets only the events of
// its version. Then Helo, Mail, Rcpt, Data and Message report the events,
// each with the macros its stage lists (milter_*_macros, or what the
// milter asked for at negotiation), and wait milter_command_timeout for
// an envelope event and milter_content_timeout for message content;
// SMFIR_PROGRESS renews the wait.
//
// The milters are asked in turn; the first that decides ends the event
// for the others, as milter.c does. Decisions are worded as milter8.c's:
// SMFIR_REJECT is "550 5.7.1 Command rejected", SMFIR_TEMPFAIL "451 4.7.1
// Service unavailable - try again later", SMFIR_REPLYCODE the milter's
// own reply (checked as milter8_valid_smtp_reply does; a malformed one is
// a configuration error), SMFIR_DISCARD discards the message (ignored at
// connect and HELO), SMFIR_QUARANTINE holds it, SMFIR_SHUTDOWN ends the
// session with 421. A refusal at connect or HELO stands for the rest of
// the session; SMFIR_ACCEPT ends the milter's events for the connection
// (at connect and HELO) or the message.
//
// A milter that cannot be reached, times out, or breaks the protocol (a
// bad packet length, a reply it may not send, malformed data) is dropped
// for the rest of the session and its default action (milter_default_action,
// or its own default_action=) stands: accept goes on without it, reject is
// "550 5.5.0 Service unavailable", tempfail "451 4.7.1 Service unavailable
// - try again later", quarantine holds the message. A well-formed but
// wrong request (a bad header index, a malformed reply code) is a
// configuration error: "451 4.3.5 Server configuration problem - try
// again later" for reject and tempfail.
//
// At the end of the message (Message) each milter is sent the header
// fields but the MTA's own Received: field (Field.Hidden, which Postfix
// hides for Sendmail compatibility), one leading space of each value
// removed unless the milter asked for it (SMFIP_HDR_LEADSPC), folded lines
// joined by LF; then the body in chunks of 65535 bytes. Its header and
// body changes are applied at once, so that the next milter sees them:
// a changed field is found by name and instance, not counting the hidden
// one; an insert index counts every field from 0, the hidden one too;
// changing a field that is not there adds it. Envelope changes are
// returned (EnvelopeEdit) for the caller to apply in order, as Postfix's
// cleanup applies them (a sender through its canonical maps, a recipient
// added as an automatic BCC one, a deletion of every recipient that came
// from the address the milters saw).
//
// ParseList reads smtpd_milters, with Postfix 3.0's per-milter settings
// ("{ inet:127.0.0.1:8891, default_action=accept, command_timeout=10s
// }"); relay builds the Specs from main.cf. Package miltertest is a
// milter for tests.
//
// Example: a milter that adds a header to each message.
//
//	srv, _ := miltertest.Start(miltertest.Milter{On: func(e miltertest.Event) []miltertest.Packet {
//		if e.Cmd == miltertest.EndOfMessage {
//			return []miltertest.Packet{miltertest.AddHeader("X-Scanned", "yes")}
//		}
//		return nil
//	}})
//	specs, _ := milter.ParseList("inet:"+srv.Addr, milter.Defaults{Macros: milter.DefaultMacros()})
//	s := milter.NewSession(specs, milter.Options{})
//	defer s.Close()
//	s.Connect(ctx, "client.example", addr, 4321, macros)
//	s.Helo(ctx, "client.example", macros)
//	s.Mail(ctx, []string{"<a@example.org>"}, macros)
//	s.Rcpt(ctx, []string{"<b@example.com>"}, macros)
//	s.Data(ctx, macros)
//	msg := milter.ParseMessage(text, -1)
//	reply, edits := s.Message(ctx, msg, macros) // msg.Bytes() has X-Scanned
//
// RcptRejected reports a recipient the MTA refused to the milters that
// asked for them (SMFIP_RCPT_REJ), as Postfix's smtpd does.
//
// Unknown reports a command the SMTP server does not know (SMFIC_UNKNOWN,
// with milter_unknown_command_macros), as Postfix's smtpd does before it
// answers "500 5.5.2 Error: command not recognized".
//
// Differences from Postfix 3.7: milter_header_checks is not implemented
// (relay refuses it).
package milter
