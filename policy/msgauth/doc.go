// Package msgauth checks the authentication of a message on the relay
// path: SPF (RFC 7208) of the client for the MAIL FROM and HELO
// identities, every DKIM signature (RFC 6376, with RFC 8301's key and
// hash rules and RFC 8463's Ed25519), and DMARC (RFC 7489) from both,
// and writes the results as an Authentication-Results header field
// (RFC 8601).
//
// A backup MX or gateway is where spammers aim, and once mail has
// passed it the primary can no longer check SPF (its client is then the
// backup). relay runs a Checker at the end of DATA when it is configured
// (relay.Config.Auth, or main.cf "mxrelay_message_authentication =
// yes"), so that the next hop sees what the first MX saw, in a header
// it can trust: relay removes every Authentication-Results field that
// claims our authserv-id before it prepends its own (StripForged, RFC
// 8601 section 5).
//
// # Worked example
//
//	c, err := msgauth.New(msgauth.Config{
//		AuthservID: "mx.example.net",  // relay: $myhostname
//		DNS:        dns,               // relay: transport's resolver
//		TrustedForwarders: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/28")},
//	})
//	...
//	r := c.Check(ctx, msgauth.Message{ClientAddr: ip, Helo: helo, Sender: from, Data: msg})
//	switch r.Action {
//	case msgauth.Reject: // 550 5.7.1
//	case msgauth.Hold:   // store on hold
//	}
//	msg = append([]byte(r.Field()+"\r\n"), msgauth.StripForged(msg, "mx.example.net")...)
//
// which writes, for a message signed by example.org and sent from one
// of its SPF-listed hosts:
//
//	Authentication-Results: mx.example.net;
//		dkim=pass header.d=example.org header.i=@example.org header.s=sel;
//		spf=pass smtp.mailfrom=example.org;
//		spf=none smtp.helo=client.example.org;
//		dmarc=pass header.from=example.org
//
// # What is decided
//
// DNS trouble is TempError for SPF, DKIM and DMARC alike and never
// rejects (RFC 7208 section 2.6.6, RFC 7489 section 6.6.3). A DMARC
// failure does what the domain's policy (p=, or sp= for a subdomain
// whose organizational domain published the record; pct= samples it)
// asks, as configured: Config.OnReject (default Reject, "550 5.7.1"),
// Config.OnQuarantine (default Annotate: the header only; Hold puts the
// message in the hold queue). Config.Decide replaces both with the
// embedding program's own decision from the typed Results.
// An SPF or DKIM failure alone refuses nothing (policyd-spf would
// refuse an SPF fail): the sender's domain says what it wants through
// DMARC, and a Decide hook may be stricter.
// TrustedForwarders skip SPF, not DKIM: a primary behind its own backup
// does not fail SPF for mail the backup relays.
//
// SPF is blitiri.com.ar/go/spf (the library of chasquid and maddy) with
// our DNS behind it: at most 10 DNS-querying terms and 2 void lookups
// (RFC 7208 section 4.6.4), macros, include and redirect. DKIM is
// go-msgauth's dkim; DMARC's record parser is go-msgauth's dmarc and
// its evaluation is ours, with the public suffix list of
// golang.org/x/net/publicsuffix for organizational domains.
// Config.MaxSignatures (default 10) caps the DKIM signatures verified,
// each a DNS query and a public-key operation the sender chose.
// TestCrossCheck gives the same messages and DNS data to Debian's
// dkimpy, pyspf and authheaders and requires the same results.
//
// # Where we differ
//
// Postfix 3.7 has no SPF, DKIM or DMARC of its own: a Postfix MX runs
// them in milters (OpenDKIM, OpenDMARC) or a policy service
// (policyd-spf). relay places the header as a Postfix milter's lands:
// right below our own Received: field (Postfix hides it from milters,
// so their "first" header comes after it). Its main.cf parameters are
// therefore mxrelay's own, named mxrelay_* (see relay's package doc).
//
// A signature with an l= (body length) tag fails: go-msgauth refuses
// it, because content appended after the signed length would ride on
// the signature. RFC 6376 allows l=; OpenDKIM and dkimpy verify it.
// Signature expiry (x=) is checked against the wall clock (go-msgauth
// has no clock to inject).
//
// The message is held in memory for the check, within
// message_size_limit.
package msgauth
