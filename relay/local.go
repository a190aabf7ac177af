package relay

import (
	"context"

	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/transport"
)

// routes answers policy.Config.Routes with the router, so that error:
// and retry: routes are refused at RCPT as Postfix's check_rcpt_maps
// (smtpd_check.c) refuses them, and refuses at RCPT what this relay
// could never deliver. mxrelay has no local(8) or virtual(8) delivery
// agent: a recipient of $mydestination or of a virtual mailbox domain
// whose route stays on "local" or "virtual" is refused with 550 5.1.1
// "User unknown in local recipient table" (or "virtual mailbox table"),
// instead of being accepted, deferred for the whole queue lifetime and
// then bounced to a sender who may be forged (backscatter). A route to
// any other transport the relay does not know is deferred at RCPT (450,
// "mail transport unavailable"), as a configuration error is. Deliberate
// difference: Postfix accepts such mail because its master.cf has those
// transports.
func routes(router *transport.Router, delivers func(transport string) bool) policy.Routes {
	return policy.RoutesFunc(func(ctx context.Context, rcpt string) (string, string, error) {
		rt, err := router.Route(ctx, rcpt)
		if err != nil || delivers(rt.Transport) {
			return rt.Transport, rt.Nexthop, err
		}
		switch rt.Class {
		case lookup.ClassLocal:
			return transport.TransportError, "5.1.1 User unknown in local recipient table", nil
		case lookup.ClassVirtual:
			return transport.TransportError, "5.1.1 User unknown in virtual mailbox table", nil
		}
		return transport.TransportRetry, "4.3.5 mail transport unavailable: " + rt.Transport, nil
	})
}
