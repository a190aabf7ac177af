package cleanup

import (
	"context"
	"strings"

	"github.com/mxrelay/mxrelay/lookup"
)

// canonicalNesting is how often canonical mapping follows a rewritten
// address (cleanup_map11.c's MAX_RECURSION). Beyond it the last address
// stays, with a warning; the message is accepted.
const canonicalNesting = 10

// canonMap is one canonical map parameter with its classes.
type canonMap struct {
	param  string
	tables []lookup.Table
}

// Sender rewrites the envelope sender as Postfix's cleanup_addr_sender:
// sender_canonical_maps, then canonical_maps, each when its classes
// include envelope_sender. The null sender stays null. A table failure
// is an *Error (451 4.3.0).
func (cl *Cleanup) Sender(ctx context.Context, queueID, sender string) (string, error) {
	if sender == "" {
		return sender, nil
	}
	return cl.canonical(ctx, queueID, sender, EnvelopeSender, cl.senderCanon, cl.c.SenderCanonicalClasses, EnvelopeSender|HeaderSender)
}

// recipient is cleanup_addr_recipient's canonical part for one envelope
// recipient: recipient_canonical_maps, then canonical_maps, each when its
// classes include envelope_recipient.
func (cl *Cleanup) recipient(ctx context.Context, queueID, rcpt string) (string, error) {
	return cl.canonical(ctx, queueID, rcpt, EnvelopeRecipient, cl.rcptCanon, cl.c.RecipientCanonicalClasses, EnvelopeRecipient|HeaderRecipient)
}

// canonical rewrites addr of class by own (the sender or recipient map,
// with its classes and their default), then by canonical_maps, then
// masquerades it (masquerade_domains), as cleanup_addr.c does.
func (cl *Cleanup) canonical(ctx context.Context, queueID, addr string, class Classes, own canonMap, classes, def Classes) (string, error) {
	var err error
	if classes.has(class, def) {
		if addr, err = cl.map11(ctx, queueID, own, addr); err != nil {
			return "", err
		}
	}
	if cl.c.CanonicalClasses.has(class, allClasses) {
		if addr, err = cl.map11(ctx, queueID, cl.canon, addr); err != nil {
			return "", err
		}
	}
	return cl.masquerade(addr, class), nil
}

const allClasses = EnvelopeSender | EnvelopeRecipient | HeaderSender | HeaderRecipient

// map11 is Postfix's cleanup_map11_external: a one-to-one rewrite that
// follows the rewritten address until the map gives the address itself,
// no answer, or canonicalNesting rewrites were made. A value that lists
// several addresses gives its first, with a warning.
func (cl *Cleanup) map11(ctx context.Context, queueID string, m canonMap, addr string) (string, error) {
	if len(m.tables) == 0 {
		return addr, nil
	}
	for range canonicalNesting {
		res, err := cl.mapAddress(ctx, m.tables, m.param, addr, cl.c.PropagateCanonical)
		if err != nil {
			return "", cl.tableFailure(queueID, m.param, addr, err)
		}
		if res == nil {
			return addr, nil
		}
		if len(res) > 1 {
			cl.log.Warn(queueID+": multi-valued "+m.param+" entry for "+addr, "queue_id", queueID)
		}
		prev := addr
		addr = res[0]
		if strings.EqualFold(prev, addr) {
			return addr, nil
		}
	}
	cl.log.Warn(queueID+": unreasonable "+m.param+" map nesting for "+addr+" -- message not accepted, try again later", "queue_id", queueID)
	return addr, nil
}
