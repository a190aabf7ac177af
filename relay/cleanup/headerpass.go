package cleanup

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"strings"
	"time"

	"github.com/mxrelay/mxrelay/relay/maillog"
)

// Message is what the cleanup stage knows of a message besides its
// text, for Check and FinishHeader.
type Message struct {
	// QueueID names the message in log lines and in a Message-Id added
	// for it.
	QueueID string
	// Local: the client is one of local_header_rewrite_clients (see
	// Config.LocalClient and RewritesHeaders): its address headers are
	// rewritten (Header) and its missing headers added, as
	// cleanup_message.c does in the "local" header rewriting context.
	Local bool
	// Sender is the envelope sender (after the canonical maps), for a
	// missing From: header and the from= of log lines; empty is the null
	// sender, whose From: is MAILER-DAEMON.
	Sender string
	// Arrival is when the message arrived, for a missing Date: and
	// Message-Id:.
	Arrival time.Time
	// Client ("name[address]"), Recipient (the last one), Proto (SMTP
	// or ESMTP) and Helo describe the transaction in the log lines of
	// the checks' actions, as cleanup_act_log's; empty ones are left
	// out (Client: "unknown").
	Client, Recipient, Proto, Helo string
	// Transport is the delivery agent's transport name in the log lines
	// of CheckDelivery ("smtp", "relay", "lmtp" or a master.cf service).
	Transport string
	// MessageIDAdded, when set, is called with the value ("<...>") of a
	// Message-Id: or, resent set, Resent-Message-Id: that FinishHeader
	// adds, for the log line cleanup_message.c writes then.
	MessageIDAdded func(resent bool, id string)
}

// PassesHeader reports whether FinishHeader would change anything in
// a message: message_drop_headers lists a header, or the message is a
// local client's (Local) or always_add_missing_headers is set. Callers
// skip the pass otherwise.
func (cl *Cleanup) PassesHeader(local bool) bool {
	return cl != nil && (len(cl.c.DropHeaders) > 0 || local || cl.c.AlwaysAddMissingHeaders)
}

// FinishHeader is cleanup_message.c's treatment of the primary message
// header after header_checks, for a message (CRLF lines, as the relay
// stores it) read from r; it returns a reader of the new header followed
// by the rest of r, the body unread:
//   - the address headers of a local client are rewritten (Header);
//   - the fields message_drop_headers names (Config.DropHeaders:
//     Bcc:, Content-Length:, Resent-Bcc: and Return-Path: by default) are
//     removed, from every client's mail;
//   - for a local client, or any client with always_add_missing_headers,
//     a missing Message-Id:, Date:, From: and, when no To:, Cc:,
//     Resent-To: or Resent-Cc: is there, undisclosed_recipients_header
//     are added after the last field, as Resent- fields when the message
//     has any Resent- field (cleanup_header_done_callback);
//   - a line that is no header field, which ends the header, follows an
//     empty line added before it.
//
// At most HeaderSizeLimit bytes of header are read; the rest of a longer
// header passes as it is, after the added fields. A read error or a
// canonical table failure is returned at once.
func (cl *Cleanup) FinishHeader(ctx context.Context, m Message, r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	var out bytes.Buffer
	var seen headersSeen
	var field []string // the lines of the current field, without CRLF
	flush := func() error {
		if len(field) == 0 {
			return nil
		}
		defer func() { field = field[:0] }()
		name, _, _ := strings.Cut(field[0], ":")
		name = strings.ToLower(strings.TrimRight(name, " \t"))
		seen.add(name)
		if m.Local {
			f, changed, err := cl.Header(ctx, m.QueueID, strings.Join(field, "\n"))
			if err != nil {
				return err
			}
			if changed {
				field = strings.Split(f, "\n")
			}
		}
		if cl.drops(name) {
			return nil
		}
		for _, l := range field {
			out.WriteString(l + "\r\n")
		}
		return nil
	}
	end := func() {
		if m.Local || cl.c.AlwaysAddMissingHeaders {
			cl.addMissing(&out, m, seen)
		}
	}
	size := 0
	for {
		line, err := br.ReadString('\n')
		size += len(line)
		body := strings.TrimRight(line, "\r\n")
		switch {
		case err != nil && line == "":
			if err != io.EOF {
				return nil, err
			}
			if ferr := flush(); ferr != nil {
				return nil, ferr
			}
			end()
			return bytes.NewReader(out.Bytes()), nil
		case body == "" || size > cl.c.HeaderSizeLimit || isBodyLine(body, len(field) > 0):
			if ferr := flush(); ferr != nil {
				return nil, ferr
			}
			end()
			if body != "" && size <= cl.c.HeaderSizeLimit {
				// A line that is no header field ends the header: it
				// gets the empty line it lacks, as from Postfix's
				// mime_state.c (golden hdrdrop, nonheader_*).
				out.WriteString("\r\n")
			}
			out.WriteString(line)
			return io.MultiReader(bytes.NewReader(out.Bytes()), br), nil
		case body[0] == ' ' || body[0] == '\t':
			field = append(field, body)
		default:
			if ferr := flush(); ferr != nil {
				return nil, ferr
			}
			field = append(field, body)
		}
	}
}

// drops reports whether message_drop_headers names a field (name in
// lower case).
func (cl *Cleanup) drops(name string) bool {
	for _, d := range cl.c.DropHeaders {
		if strings.EqualFold(d, name) {
			return true
		}
	}
	return false
}

// actionAttrs are the attributes of the log line of a header or body
// check action (maillog.Content), as cleanup_act_log writes them.
func (m Message) actionAttrs(action, context, text, why string) []any {
	client := m.Client
	if client == "" {
		client = "unknown"
	}
	attrs := []any{maillog.KeyQueueID, m.QueueID, maillog.KeyKind, action, maillog.KeyContext, context,
		maillog.KeyText, text, maillog.KeyClient, client, maillog.KeyFrom, m.Sender}
	for _, kv := range [][2]string{{maillog.KeyTo, m.Recipient}, {maillog.KeyProto, m.Proto}, {maillog.KeyHelo, m.Helo}, {maillog.KeyReason, why}} {
		if kv[1] != "" {
			attrs = append(attrs, kv[0], kv[1])
		}
	}
	return attrs
}
