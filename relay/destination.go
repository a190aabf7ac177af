package relay

import (
	"context"
	"strings"

	"github.com/mxrelay/mxrelay/queue"
)

// destination names a recipient's delivery destination for the queue's
// per-destination concurrency limits and dead-destination marks, as
// Postfix's queue manager names it: transport:nexthop ("relay:[mx.example]"),
// so that relay-domain mail has its own limits apart from general
// outbound mail (qmgr's queue per transport and next hop). It is looked
// up once, when the recipient is accepted, and recorded in the envelope:
// the queue never consults a table under its locks. A route that cannot
// be looked up now falls back to the recipient domain; delivery routes
// again and reports the failure.
func (r *MX) destination(ctx context.Context, rcpt string) string {
	if r.c.Router == nil {
		return queue.Domain(rcpt)
	}
	rt, err := r.c.Router.Route(ctx, rcpt)
	if err != nil {
		return queue.Domain(rcpt)
	}
	return rt.Transport + ":" + strings.ToLower(rt.Nexthop)
}
