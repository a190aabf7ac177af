// Package transport answers "where does this recipient's mail go, and how",
// the way Postfix 3.7's trivial-rewrite and smtp(8)/lmtp(8) do, and then
// takes the mail there.
//
// It has three layers, each usable on its own:
//
//   - Router turns a recipient into a Route (transport name and nexthop)
//     from the address class, transport_maps and the class transports and
//     relayhost, as trivial-rewrite's resolve.c and transport(5)
//     describe them.
//   - AddressConfig.Resolve turns one Hop of a nexthop into the addresses
//     to try: MX lookup, preference order and shuffling, the address
//     limit, implicit MX, null MX, and the backup-MX self check, as
//     smtp(8)'s smtp_addr.c. DNS is a stub resolver on
//     github.com/miekg/dns (DNS); tests point it at a transport/dnstest
//     server.
//   - Agent delivers one message to a Route: it resolves each hop, runs
//     SMTP or LMTP sessions with a transport/client.Client, applies the
//     try-next-address rules of smtp_connect.c and smtp_trouble.c, the
//     session and address limits (smtp_mx_session_limit,
//     smtp_mx_address_limit) and the fallback-relay rules
//     (smtp_fallback_relay), and returns one RecipientResult per
//     recipient with the remote reply, the host and address that gave it,
//     and the stage ("in reply to RCPT TO command").
//
// # Worked example
//
// A backup MX for example.com (relay_domains = example.com) whose own
// public address is 192.0.2.25, relaying through a transport table:
//
//	relayDomains, _, err := lookup.ParseList(ctx, "example.com", lookup.ListOptions{Name: "relay_domains"})
//	domains := &lookup.Domains{RelayDomains: relayDomains} // address classes
//	transportMap, _ := lookup.Open(ctx, "hash:/etc/postfix/transport", nil)
//	router, err := transport.NewRouter(transport.RouterConfig{
//		Domains:       domains,
//		TransportMaps: []lookup.Table{transportMap},
//		MyHostname:    "backup.example.net",
//	})
//	route, err := router.Route(ctx, "user@example.com")
//	// route: relay:example.com, class relay (no transport entry).
//
//	dns, err := transport.NewDNS(transport.DNSConfig{Cache: true}) // /etc/resolv.conf
//	c, err := client.New(client.Config{Hostname: "backup.example.net"})
//	defer c.Close()
//	agent, err := transport.NewAgent(transport.AgentConfig{
//		Sender: c,
//		Addresses: transport.AddressConfig{
//			Resolver:    dns,
//			MyAddresses: []netip.Addr{netip.MustParseAddr("192.0.2.25")}, // listening + proxy_interfaces
//		},
//		TLS: &transport.TLSPolicyMap{Default: transport.TLSPolicy{Level: client.TLSOpportunistic}},
//	})
//	d := agent.Deliver(ctx, route, &client.Message{From: "a@src.example", Recipients: rcpts, Body: body, Size: size})
//	for _, r := range d.Recipients {
//		switch r.Status {
//		case client.Delivered: // remove from the queue
//		case client.Deferred:  // retry later: r.Code() 4xx, r.Enhanced() "4.4.1", r.Text()
//		case client.Failed:    // bounce: r.Code() 5xx, r.Text() is the DSN diagnostic
//		}
//	}
//
// With MX records "10 mx1.example.com, 20 backup.example.net" and
// backup.example.net = 192.0.2.25, only mx1 is tried (a backup MX only
// tries better MX hosts): when it is down the mail is deferred with the
// connect error, never sent to a fallback relay (this host is an MX of the
// domain). Were the backup the best MX, the result would be 5.4.6
// "mail for example.com loops back to myself". The same happens when a
// best MX on port 25 answers EHLO with this host's myhostname (a
// misconfigured DNS or transport table): the recipients bounce with
// 5.4.6 and no other MX is tried; at a less preferred MX they are
// deferred with 4.4.6 and the next address is tried (smtp_proto.c; see
// transport/client). A reason (RecipientResult.Text) does not repeat
// the enhanced status code, which RecipientResult.Enhanced gives, as
// Postfix logs dsn= apart from its reason.
//
// # Postfix parameters and RFCs
//
// transport_maps, relayhost, relay_transport, default_transport,
// local_transport, virtual_transport (RouterConfig); smtp_mx_address_limit,
// smtp_randomize_addresses, smtp_address_preference,
// smtp_defer_if_no_mx_address_found, ignore_mx_lookup_error,
// inet_interfaces and proxy_interfaces, inet_protocols, smtp_balance_inet_protocols
// (AddressConfig); smtp_mx_session_limit, smtp_fallback_relay,
// smtp_tls_security_level and smtp_tls_policy_maps, queue_directory for
// relative unix: nexthops (AgentConfig, TLSPolicyMap); the client's
// timeouts and caching parameters are in transport/client. Postfix source
// files cited are those of Postfix 3.7 (src/smtp, src/trivial-rewrite,
// src/util). RFC 5321 section 5 (MX and implicit MX), RFC 7505
// (null MX), RFC 2308 (negative caching), RFC 3463 (status codes), RFC
// 1035/7766 (TCP after truncation).
//
// # Deliberate differences from Postfix
//
//   - The session limit (smtp_mx_session_limit) and the address limit
//     (smtp_mx_address_limit) are counted per hop of the nexthop list, as
//     Postfix's smtp_connect.c does ("per next-hop or fall-back
//     destination"); its documentation says "per delivery request". For a
//     single-hop nexthop, the usual case, both readings agree.
//   - Recipients left after the last hop are deferred when any hop gave a
//     temporary reason, even if a later hop failed permanently (Postfix
//     keeps only the last reason, so a hard DNS failure of a second hop
//     could bounce mail the first hop merely deferred). Losing mail to a
//     transient failure is worse than retrying.
//   - A null MX (5.1.0) ends the delivery like a mail loop: the fallback
//     relay is not tried for a domain that declared it accepts no mail.
//   - The fallback relay is never used for relay-class mail. A route
//     such as relay:[primary] does no MX lookup, so Postfix never learns
//     that this host is an MX of the domain and would pass a backup MX's
//     mail to the fallback host while the primary is down.
//   - best_mx_transport is not supported: a loop bounces with 5.4.6 (or
//     defers with 4.3.5 when the nexthop is $relayhost).
//   - At most AddressConfig.MaxMXHosts (20) MX hosts are looked up per
//     domain, best first, completing the preference of the last one (up
//     to 100 hosts); Postfix has no such cap. An own address listed only
//     beyond that is not recognised by the backup-MX self check; raise
//     the cap for such a domain.
//   - Port names in nexthops come from a fixed table (smtp, lmtp,
//     submission, smtps, submissions), not from /etc/services.
//   - TLSPolicyMap reads "dane" as "may" (this resolver does not validate
//     DNSSEC) and defers hops with "dane-only" or "fingerprint" instead of
//     sending with weaker protection.
//   - The "*" wildcard of transport_maps (transport(5), "TABLE SEARCH
//     ORDER") applies to every class, local included, exactly as in
//     Postfix: a "* smtp:[host]" entry also sends mail for mydestination
//     away. This is faithful, and a footgun.
//   - The resolver never uses net.DefaultResolver or the C library; a
//     temporary DNS failure is never cached; CNAME loops and chains longer
//     than 10 are malformed answers (5.4.4).
package transport
