package cleanup

import (
	"bytes"
	"context"

	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/relay/maillog"
)

// checkSet is what one run of the checks looks up: the tables of each
// header class and of body lines, the prefix of their parameter names
// ("" for cleanup's header_checks, "smtp_" or "lmtp_" for a delivery
// agent's), and whether they are a delivery agent's, whose actions are
// restricted.
type checkSet struct {
	header, mime, nested, body []lookup.Table
	prefix                     string
	delivery                   bool
}

// DeliveryChecks are a delivery agent's content checks, applied to each
// message as it is sent (Postfix's smtp_header_checks,
// smtp_mime_header_checks, smtp_nested_header_checks and
// smtp_body_checks, or their lmtp_ names). Unlike cleanup's, they only
// edit the text: IGNORE, STRIP, PREPEND, REPLACE, WARN, INFO, DUNNO and
// OK; any other action is logged as unsupported and the line sent as it
// is (header_body_checks.c). Their defaults are empty: a MIME header is
// checked only by MIMEHeaderChecks.
type DeliveryChecks struct {
	HeaderChecks, MIMEHeaderChecks, NestedHeaderChecks, BodyChecks []lookup.Table
}

func (d *DeliveryChecks) empty() bool {
	return d == nil || len(d.HeaderChecks)+len(d.MIMEHeaderChecks)+len(d.NestedHeaderChecks)+len(d.BodyChecks) == 0
}

// deliveryActions are the actions a delivery agent's checks carry out.
var deliveryActions = map[string]bool{"IGNORE": true, "STRIP": true, "PREPEND": true, "REPLACE": true,
	"WARN": true, "INFO": true, "DUNNO": true, "OK": true}

// ChecksDelivery reports whether deliveries by SMTP (lmtp false) or LMTP
// have content checks (Config.SMTPChecks, Config.LMTPChecks), so that
// callers can skip CheckDelivery.
func (cl *Cleanup) ChecksDelivery(lmtp bool) bool {
	if cl == nil {
		return false
	}
	if lmtp {
		return !cl.c.LMTPChecks.empty()
	}
	return !cl.c.SMTPChecks.empty()
}

// CheckDelivery applies the checks of deliveries by SMTP (lmtp false)
// or LMTP to a queued message (CRLF lines) and returns the text to send,
// as Postfix's smtp(8) applies smtp_header_checks and smtp_body_checks
// while it sends the message. m names the message (QueueID) and the
// delivery agent (Transport) in the log lines, as smtp's
// "QUEUEID: replace: header Subject: x: Subject: y". A table failure is
// an *Error (451 4.3.0): the delivery is deferred.
func (cl *Cleanup) CheckDelivery(ctx context.Context, m Message, lmtp bool, msg []byte) ([]byte, error) {
	d, prefix := &cl.c.SMTPChecks, "smtp_"
	if lmtp {
		d, prefix = &cl.c.LMTPChecks, "lmtp_"
	}
	c := &checker{cl: cl, ctx: ctx, m: m, on: true, set: checkSet{header: d.HeaderChecks, mime: d.MIMEHeaderChecks,
		nested: d.NestedHeaderChecks, body: d.BodyChecks, prefix: prefix, delivery: true}}
	out, _, err := c.run(bytes.NewReader(msg))
	return out, err
}

// deliveryAttrs are the attributes of the log line of a delivery
// agent's check action (maillog.DeliveryContent).
func (m Message) deliveryAttrs(action, context, text, why string) []any {
	attrs := []any{maillog.KeyQueueID, m.QueueID, maillog.KeyKind, action, maillog.KeyContext, context,
		maillog.KeyText, text, maillog.KeyTransport, m.Transport}
	if why != "" {
		attrs = append(attrs, maillog.KeyReason, why)
	}
	return attrs
}
