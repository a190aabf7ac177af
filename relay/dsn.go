package relay

import (
	"bufio"
	"bytes"
	"cmp"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/mxrelay/mxrelay/queue"
)

// DSNKind is the kind of delivery status notification.
type DSNKind int

const (
	// DSNFailure returns undeliverable mail ("Undelivered Mail Returned
	// to Sender", Action: failed).
	DSNFailure DSNKind = iota
	// DSNDelay warns that mail is still being retried ("Delayed Mail
	// (still being retried)", Action: delayed), once delay_warning_time
	// is reached.
	DSNDelay
	// DSNSuccess confirms delivery to recipients that asked for it with
	// NOTIFY=SUCCESS ("Successful Mail Delivery Report", Action: relayed).
	DSNSuccess
)

// DSNRecipient is one recipient reported in a DSN.
type DSNRecipient struct {
	// Address is the envelope recipient (Final-Recipient).
	Address string
	// ORCPT is the RFC 3461 ORCPT parameter ("rfc822;u@example.com");
	// empty: Original-Recipient repeats Address, as Postfix does.
	ORCPT string
	// Status is the RFC 3463 status ("5.1.1"). Default 5.0.0, 4.0.0 or
	// 2.0.0 by kind.
	Status string
	// RemoteMTA is the host that gave the reply, when one did.
	RemoteMTA string
	// Diagnostic is the remote SMTP reply ("550 5.1.1 no such user"),
	// reported as "Diagnostic-Code: smtp; ..."; empty when the reason is
	// local.
	Diagnostic string
	// Reason is the text of the notification line ("host mx[192.0.2.1]
	// said: 550 5.1.1 no such user (in reply to RCPT TO command)"); when
	// Diagnostic is empty it is also the X-Postfix diagnostic.
	Reason string
	// WillRetryUntil is this recipient's Will-Retry-Until in a delay
	// report (RFC 3464 section 2.3.9: a per-recipient field, since
	// recipients of different domains can have different lifetimes).
	// Zero: DSN.WillRetryUntil.
	WillRetryUntil time.Time
}

// DSN is an RFC 3464 delivery status notification shaped like Postfix 3.7's
// bounce(8) messages (bounce_notify_util.c): a multipart/report with the
// notification text, a message/delivery-status part with per-message and
// per-recipient fields, and the original message (or only its headers).
type DSN struct {
	// Kind is the report: failure, delay or success.
	Kind DSNKind
	// Hostname is $myhostname: Reporting-MTA, the boundary, the text.
	Hostname string
	// Origin is $myorigin, the domain of MAILER-DAEMON in From:. Default
	// Hostname.
	Origin string
	// QueueID and Sender identify the original message (X-Postfix-Queue-ID,
	// X-Postfix-Sender, and To:).
	QueueID string
	Sender  string
	// ID is the notification's own queue ID, from which its Message-Id
	// is made ("<YYYYMMDDhhmmss.ID@HOSTNAME>", UTC), as Postfix's cleanup
	// makes one. Default QueueID.
	ID string
	// EnvID is the RFC 3461 ENVID of the original (Original-Envelope-Id).
	EnvID string
	// Arrival is when the original was accepted (Arrival-Date).
	Arrival time.Time
	// Date is when the DSN is made. Default time.Now().
	Date time.Time
	// Ret is the RET parameter of the original: RetHdrs returns only its
	// headers. Delay and success reports always carry only headers, as
	// Postfix's do.
	Ret queue.Ret
	// SMTPUTF8 makes the report parts message/global-delivery-status and
	// message/global (RFC 6533).
	SMTPUTF8 bool
	// Recipients are the recipients reported.
	Recipients []DSNRecipient
	// WillRetryUntil is the Will-Retry-Until of a delay report.
	WillRetryUntil time.Time
	// DelayWarningTime and MaximalQueueLifetime fill the delay template
	// ("more than N hour(s)", "until it is N day(s) old").
	DelayWarningTime     time.Duration
	MaximalQueueLifetime time.Duration
	// MaxOriginal caps the original message returned; a larger message is
	// returned as headers only. Default 50000, as Postfix
	// bounce_size_limit.
	MaxOriginal int64
	// MaxHeader caps the original's header returned. Default 102400, as
	// Postfix header_size_limit.
	MaxHeader int64
}

// The template texts are Postfix 3.7's failure_template, delay_template
// and success_template (postconf -t).
const (
	failureText = `I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

For further assistance, please send mail to postmaster.

If you do so, please include this problem report. You can
delete your own text from the attached returned message.
`
	delayText = `####################################################################
# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #
####################################################################

Your message could not be delivered for more than %d hour(s).
It will be retried until it is %d day(s) old.

For further assistance, please send mail to postmaster.

If you do so, please include this problem report. You can
delete your own text from the attached returned message.
`
	successText = `Your message was successfully delivered to the destination(s)
listed below. If the message was delivered to mailbox you will
receive no further notifications. Otherwise you may still receive
notifications of mail delivery errors from other systems.
`
)

// Write writes the DSN message (header and body, CRLF line endings) to
// w, reading the original message from original (which may be nil when
// it is no longer available).
func (d *DSN) Write(w io.Writer, original io.Reader) error {
	date := d.Date
	if date.IsZero() {
		date = time.Now()
	}
	origin := d.Origin
	if origin == "" {
		origin = d.Hostname
	}
	hdrs, body, full, eightBit, err := d.readOriginal(original)
	if err != nil {
		return err
	}
	bw := &crlfWriter{w: bufio.NewWriter(w)}
	boundary := fmt.Sprintf("%s.%d/%s", d.QueueID, date.Unix(), d.Hostname)
	subject, action, defStatus := "Undelivered Mail Returned to Sender", "failed", "5.0.0"
	switch d.Kind {
	case DSNDelay:
		subject, action, defStatus = "Delayed Mail (still being retried)", "delayed", "4.0.0"
	case DSNSuccess:
		subject, action, defStatus = "Successful Mail Delivery Report", "relayed", "2.0.0"
	}
	bw.line("Date: " + MailDate(date))
	bw.line("From: Mail Delivery System <MAILER-DAEMON@" + origin + ">")
	bw.line("Subject: " + subject)
	bw.line("To: " + d.Sender)
	bw.line("Auto-Submitted: auto-replied")
	bw.line("MIME-Version: 1.0")
	bw.line("Content-Type: multipart/report; report-type=delivery-status;")
	bw.line("\tboundary=\"" + boundary + "\"")
	if eightBit {
		bw.line("Content-Transfer-Encoding: 8bit")
	}
	bw.line("Message-Id: " + d.messageID(date))
	bw.line("")
	bw.line("This is a MIME-encapsulated message.")
	bw.line("")

	// Part 1: the notification.
	bw.line("--" + boundary)
	bw.line("Content-Description: Notification")
	bw.line("Content-Type: text/plain; charset=us-ascii")
	bw.line("")
	bw.line("This is the mail system at host " + d.Hostname + ".")
	bw.line("")
	switch d.Kind {
	case DSNDelay:
		bw.text(fmt.Sprintf(delayText, int(d.DelayWarningTime/time.Hour), int(d.MaximalQueueLifetime/(24*time.Hour))))
	case DSNSuccess:
		bw.text(successText)
	default:
		bw.text(failureText)
	}
	bw.line("")
	bw.line("                   The mail system")
	bw.line("")
	for _, r := range d.Recipients {
		reason := r.Reason
		if reason == "" {
			reason = r.Diagnostic
		}
		if d.Kind == DSNSuccess && reason == "" {
			reason = "delivery via " + r.RemoteMTA
		}
		head := "<" + r.Address + ">"
		if o, ok := strings.CutPrefix(r.ORCPT, "rfc822;"); ok && !strings.EqualFold(strings.TrimSpace(o), r.Address) {
			// A recipient that virtual_alias_maps or a canonical map
			// rewrote, as bounce_notify_util.c names it.
			head += " (expanded from <" + strings.TrimSpace(o) + ">)"
		}
		bw.folded(head+": "+reason, "    ")
		bw.line("")
	}

	// Part 2: the delivery report.
	bw.line("--" + boundary)
	bw.line("Content-Description: Delivery report")
	if d.SMTPUTF8 {
		bw.line("Content-Type: message/global-delivery-status")
	} else {
		bw.line("Content-Type: message/delivery-status")
	}
	bw.line("")
	bw.line("Reporting-MTA: dns; " + d.Hostname)
	if d.EnvID != "" {
		bw.line("Original-Envelope-Id: " + d.EnvID)
	}
	bw.line("X-Postfix-Queue-ID: " + d.QueueID)
	sender := d.Sender
	if sender == "" {
		sender = "<>" // never sent to <>, but the field must not be empty
	}
	bw.line("X-Postfix-Sender: rfc822; " + sender)
	if !d.Arrival.IsZero() {
		bw.line("Arrival-Date: " + MailDate(d.Arrival))
	}
	for _, r := range d.Recipients {
		bw.line("")
		bw.line("Final-Recipient: rfc822; " + r.Address)
		if r.ORCPT != "" {
			bw.line("Original-Recipient: " + r.ORCPT)
		} else {
			bw.line("Original-Recipient: rfc822; " + r.Address)
		}
		bw.line("Action: " + action)
		st := r.Status
		if st == "" {
			st = defStatus
		}
		bw.line("Status: " + st)
		if r.RemoteMTA != "" {
			bw.line("Remote-MTA: dns; " + r.RemoteMTA)
		}
		switch {
		case r.Diagnostic != "":
			bw.folded("Diagnostic-Code: smtp; "+r.Diagnostic, "    ")
		case r.Reason != "":
			bw.folded("Diagnostic-Code: X-Postfix; "+r.Reason, "    ")
		}
		if until := cmp.Or(r.WillRetryUntil, d.WillRetryUntil); d.Kind == DSNDelay && !until.IsZero() {
			bw.line("Will-Retry-Until: " + MailDate(until))
		}
	}
	bw.line("")

	// Part 3: the original message, or its headers.
	bw.line("--" + boundary)
	undelivered := "Undelivered Message"
	if d.Kind == DSNSuccess {
		undelivered = "Delivered Message"
	}
	switch {
	case original == nil:
		bw.line("Content-Description: " + undelivered)
		bw.line("Content-Type: text/plain; charset=us-ascii")
		bw.line("")
		bw.line("\t--- Undelivered message unavailable ---")
	default:
		desc, ctype := undelivered, "message/rfc822"
		switch {
		case full && d.SMTPUTF8:
			ctype = "message/global"
		case !full && d.SMTPUTF8:
			desc, ctype = undelivered+" Headers", "message/global-headers"
		case !full:
			desc, ctype = undelivered+" Headers", "text/rfc822-headers"
		}
		bw.line("Content-Description: " + desc)
		bw.line("Content-Type: " + ctype)
		if eightBit {
			bw.line("Content-Transfer-Encoding: 8bit")
		}
		bw.line("")
		bw.raw(hdrs)
		if full {
			bw.raw(body)
		}
	}
	bw.line("")
	bw.line("--" + boundary + "--")
	return bw.flush()
}

// readOriginal reads the original's header and, when it is to be returned
// whole and fits MaxOriginal, its body. Both keep their line endings.
func (d *DSN) readOriginal(r io.Reader) (hdrs, body []byte, full, eightBit bool, err error) {
	if r == nil {
		return nil, nil, false, false, nil
	}
	maxHdr, maxAll := d.MaxHeader, d.MaxOriginal
	if maxHdr <= 0 {
		maxHdr = 102400
	}
	if maxAll <= 0 {
		maxAll = 50000
	}
	br := bufio.NewReader(r)
	var h bytes.Buffer
	midLine, truncated := false, false
	for {
		line, err := br.ReadSlice('\n')
		if int64(h.Len()+len(line)) <= maxHdr {
			h.Write(line)
		} else {
			truncated = true
		}
		if err == bufio.ErrBufferFull {
			midLine = true
			continue
		}
		blank := !midLine && len(bytes.TrimRight(line, "\r\n")) == 0
		midLine = false
		if err != nil {
			if err != io.EOF {
				return nil, nil, false, false, fmt.Errorf("relay: reading the original message: %w", err)
			}
			break
		}
		if blank {
			break
		}
	}
	hdrs = h.Bytes()
	full = d.Kind == DSNFailure && d.Ret != queue.RetHdrs && !truncated
	if full {
		rest := int64(maxAll) - int64(len(hdrs))
		if rest < 0 {
			rest = 0
		}
		body, err = io.ReadAll(io.LimitReader(br, rest+1))
		if err != nil {
			return nil, nil, false, false, fmt.Errorf("relay: reading the original message: %w", err)
		}
		if int64(len(body)) > rest {
			full, body = false, nil // too large: headers only
		}
	}
	if !full && len(hdrs) > 0 && !bytes.HasSuffix(hdrs, []byte("\n")) {
		hdrs = append(hdrs, '\r', '\n')
	}
	eightBit = has8bit(hdrs) || has8bit(body)
	return hdrs, body, full, eightBit, nil
}

func has8bit(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// crlfWriter writes lines with CRLF endings and remembers the first error.
type crlfWriter struct {
	w   *bufio.Writer
	err error
}

func (c *crlfWriter) line(s string) {
	if c.err != nil {
		return
	}
	if _, err := c.w.WriteString(s); err != nil {
		c.err = err
		return
	}
	_, c.err = c.w.WriteString("\r\n")
}

// text writes a block of "\n"-separated lines.
func (c *crlfWriter) text(s string) {
	for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		c.line(l)
	}
}

// raw writes the original's bytes, making sure every line ends in CRLF.
func (c *crlfWriter) raw(b []byte) {
	for len(b) > 0 && c.err == nil {
		i := bytes.IndexByte(b, '\n')
		var l []byte
		if i < 0 {
			l, b = b, nil
		} else {
			l, b = b[:i], b[i+1:]
		}
		c.line(string(bytes.TrimSuffix(l, []byte("\r"))))
	}
}

// folded writes s, folding it at white space before column 76 with
// indent on the continuation lines, as Postfix's bounce text is wrapped.
func (c *crlfWriter) folded(s, indent string) {
	const width = 76
	first := true
	for len(s) > 0 {
		limit := width
		if !first {
			limit = width - len(indent)
		}
		if len(s) <= limit {
			c.out(first, indent, s)
			return
		}
		cut := strings.LastIndexByte(s[:limit], ' ')
		if cut <= 0 {
			cut = strings.IndexByte(s, ' ')
			if cut < 0 {
				c.out(first, indent, s)
				return
			}
		}
		c.out(first, indent, s[:cut])
		s = strings.TrimLeft(s[cut:], " ")
		first = false
	}
}

func (c *crlfWriter) out(first bool, indent, s string) {
	if first {
		c.line(s)
	} else {
		c.line(indent + s)
	}
}

func (c *crlfWriter) flush() error {
	if c.err != nil {
		return c.err
	}
	return c.w.Flush()
}

// recordedStatus is the enhanced status code the queue recorded for a
// recipient; for records written before the queue kept it apart, the one
// its reason starts with or quotes (statusFromReason); else def.
func recordedStatus(rc queue.Recipient, def string) string {
	if rc.Status != "" {
		return rc.Status
	}
	return statusFromReason(rc.Reason, def)
}

// statusFromReason extracts an enhanced status code from a reason: a
// leading one ("5.4.6 mail loops back"), or the one after a reply code
// ("550 5.1.1 no such user", "host mx[192.0.2.1] said: 451 4.3.0 try
// later"); def when there is none.
func statusFromReason(reason, def string) string {
	f := strings.Fields(reason)
	if len(f) > 0 && isStatus(f[0]) {
		return f[0]
	}
	for i := 0; i+1 < len(f); i++ {
		if c := f[i]; len(c) == 3 && (c[0] == '2' || c[0] == '4' || c[0] == '5') && isDigits(c) && isStatus(f[i+1]) && f[i+1][0] == c[0] {
			return f[i+1]
		}
	}
	return def
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isStatus(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || (parts[0][0] != '2' && parts[0][0] != '4' && parts[0][0] != '5') {
		return false
	}
	for _, p := range parts[1:] {
		if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 999 || len(p) > 3 {
			return false
		}
	}
	return true
}

// messageID is the notification's Message-Id made at date (see ID).
func (d *DSN) messageID(date time.Time) string {
	id := d.ID
	if id == "" {
		id = d.QueueID
	}
	return "<" + date.UTC().Format("20060102150405") + "." + id + "@" + d.Hostname + ">"
}

// MessageID returns the notification's Message-Id (see ID), for a Date
// that is set.
func (d *DSN) MessageID() string { return d.messageID(d.Date) }
