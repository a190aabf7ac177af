package relay

import (
	"bytes"
	"context"
	"errors"
	"io"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/cleanup"
	"github.com/mxrelay/mxrelay/transport"
	"github.com/mxrelay/mxrelay/transport/client"
)

// protocols tells the protocol of a transport (*transport.Agent does),
// so that an LMTP service of master.cf gets the lmtp_ checks. Without
// it, only the transport "lmtp" does.
type protocols interface {
	Protocol(name string) (transport.Protocol, bool)
}

// checkDelivery applies the delivery agent's content checks
// (smtp_header_checks, smtp_body_checks... or their lmtp_ names;
// cleanup.Cleanup.CheckDelivery) to the message a group is about to be
// sent, as Postfix's smtp(8) edits the message while it sends it: msg's
// body becomes the edited text. A failure (a table that cannot be read)
// defers the group's recipients, whose results it returns; nil: go on.
func (r *MX) checkDelivery(ctx context.Context, env *queue.Envelope, g *routeGroup, msg *client.Message) []*attemptResult {
	lmtp := g.route.Transport == "lmtp"
	if pt, ok := r.c.Agent.(protocols); ok {
		proto, _ := pt.Protocol(g.route.Transport)
		lmtp = proto == transport.LMTP
	}
	if !r.c.Cleanup.ChecksDelivery(lmtp) {
		return nil
	}
	text, err := io.ReadAll(io.NewSectionReader(msg.Body, 0, msg.Size))
	if err == nil {
		text, err = r.c.Cleanup.CheckDelivery(ctx, cleanup.Message{QueueID: string(env.ID), Transport: g.route.Transport}, lmtp, text)
	}
	if err == nil {
		msg.Body, msg.Size = bytes.NewReader(text), int64(len(text))
		return nil
	}
	r.logFailure("delivery content checks failed", "queue_id", env.ID, "err", err)
	fail := &transport.Error{Code: 451, Status: "4.3.0", Text: "mail system configuration error"}
	var ce *cleanup.Error
	if errors.As(err, &ce) {
		fail = &transport.Error{Code: ce.Code, Status: ce.Status, Text: ce.Message}
	}
	out := make([]*attemptResult, len(g.idx))
	now := r.c.Now()
	for j, i := range g.idx {
		out[j] = &attemptResult{transport: g.route.Transport, tried: true, handoff: now, done: now,
			res: transport.RecipientResult{Recipient: env.Recipients[i].Address, Status: client.Deferred, Err: fail}}
	}
	return out
}
