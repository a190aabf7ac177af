package cleanup

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/mxrelay/mxrelay/lookup"
)

// headersSeen records which of the header fields that
// cleanup_header_done_callback looks for a message has.
type headersSeen struct {
	messageID, resentMessageID bool
	date, resentDate           bool
	from, resentFrom           bool
	visibleRecipient           bool // To:, Cc:, Resent-To: or Resent-Cc:
	resent                     bool // any Resent- field (header_opts.c's HDR_OPT_RR)
}

func (s *headersSeen) add(name string) {
	switch name {
	case "message-id":
		s.messageID = true
	case "resent-message-id":
		s.resentMessageID = true
	case "date":
		s.date = true
	case "resent-date":
		s.resentDate = true
	case "from":
		s.from = true
	case "resent-from":
		s.resentFrom = true
	case "to", "cc", "resent-to", "resent-cc":
		s.visibleRecipient = true
	}
	switch name {
	case "resent-bcc", "resent-cc", "resent-date", "resent-from", "resent-message-id", "resent-reply-to", "resent-sender", "resent-to":
		s.resent = true
	}
}

// addMissing writes the fields cleanup_header_done_callback adds to a
// message that lacks them, in its order: (Resent-)Message-Id:
// <YYYYMMDDhhmmss.QUEUEID@$myhostname> (the time in UTC),
// (Resent-)Date: in mail_date's form, (Resent-)From: the envelope sender
// (MAILER-DAEMON for the null sender), and undisclosed_recipients_header
// when the message shows no recipient.
func (cl *Cleanup) addMissing(out *bytes.Buffer, m Message, seen headersSeen) {
	resent := ""
	if seen.resent {
		resent = "Resent-"
	}
	// lacks: the plain field is wanted, or the Resent- one when the
	// message has Resent- fields.
	lacks := func(plain, res bool) bool {
		if seen.resent {
			return !res
		}
		return !plain
	}
	if lacks(seen.messageID, seen.resentMessageID) {
		id := fmt.Sprintf("<%s.%s@%s>", m.Arrival.UTC().Format("20060102150405"), m.QueueID, cl.c.MyHostname)
		fmt.Fprintf(out, "%sMessage-Id: %s\r\n", resent, id)
		if m.MessageIDAdded != nil {
			m.MessageIDAdded(seen.resent, id)
		}
	}
	if lacks(seen.date, seen.resentDate) {
		fmt.Fprintf(out, "%sDate: %s\r\n", resent, MailDate(m.Arrival))
	}
	if lacks(seen.from, seen.resentFrom) {
		sender := m.Sender
		if sender == "" {
			sender = "MAILER-DAEMON"
		}
		// The envelope keeps the external form ("john smith"@x); the
		// header gets quote_822_local's of the internal form.
		local, domain := sender, ""
		if at := strings.LastIndexByte(sender, '@'); at >= 0 {
			local, domain = sender[:at], sender[at:]
		}
		fmt.Fprintf(out, "%sFrom: %s\r\n", resent, quoteLocal822(lookup.UnquoteLocal(local)+domain))
	}
	if !seen.visibleRecipient && cl.c.UndisclosedRecipientsHeader != "" {
		out.WriteString(cl.c.UndisclosedRecipientsHeader + "\r\n")
	}
}

// MailDate formats t as Postfix's mail_date does for Date: fields: the
// day of the month space-padded, the numeric zone, then its name:
// "Mon,  7 Dec 2026 02:55:01 +0000 (UTC)".
func MailDate(t time.Time) string {
	return t.Format("Mon, _2 Jan 2006 15:04:05 -0700 (MST)")
}
