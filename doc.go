// Package mxrelay is an embeddable library that lets a Go mail server act
// as primary or backup MX for remote domains, deciding and routing mail the
// way Postfix 3.7 does, and delivering the mail it accepted.
//
// This root package holds only documentation; the work is done by its
// packages:
//
//	lookup     Postfix lookup tables (hash:, cdb:, inline:, static:, cidr:,
//	           regexp:, unix:) behind one small Table interface, Postfix's key
//	           orders for addresses and domains, list parameters
//	           (relay_domains, mynetworks) and address classes.
//	policy     relay acceptance at each SMTP stage: relay_domains,
//	           relay_recipient_maps, mynetworks, restriction lists, with the
//	           exact replies Postfix gives, as typed decisions.
//	transport  routing (transport_maps, relayhost), MX resolution with the
//	           backup-MX rule, SMTP/LMTP delivery.
//	queue      a durable mail queue with Postfix's retry schedule: a file
//	           spool, a memory queue for tests.
//	relay      all of it composed into a go-smtp backend and a delivery loop,
//	           with DSN bounces; Load builds it from a main.cf.
//	relay/maincf
//	           the one main.cf reader: Postfix's syntax, $name expansion,
//	           every Postfix 3.7 parameter with its default, typed values,
//	           and the sorting of what a file sets into used, ignored, not
//	           implemented and unknown.
//
// Imports flow one way: lookup is at the bottom; policy and transport use
// lookup and never each other; queue imports no sibling; relay/maincf uses
// only lookup; relay composes them. Only relay reads main.cf, through
// relay/maincf, and gives policy, transport and queue typed configurations
// built once from it. Interfaces are declared by the package that
// consumes them.
//
// One message's path: a client connects to the go-smtp server that mounts
// relay's backend; at every stage relay asks policy, which consults lookup
// tables (relay_domains, relay_recipient_maps, access maps) and answers
// with Postfix's reply; accepted mail is stored durably in queue before the
// 250 reply; relay's delivery loop claims it, asks transport for each
// recipient's route (transport_maps, then MX records, dropping MX hosts no
// better than ourselves when we are a backup), delivers over SMTP or LMTP,
// and records each recipient's outcome in the queue: delivered, deferred
// with Postfix's backoff, or bounced with an RFC 3464 DSN.
//
// The rules followed are those of Postfix 3.7; each package's
// documentation lists the Postfix parameters it implements and every
// deliberate difference.
package mxrelay
