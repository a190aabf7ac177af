package maillog

import (
	"log/slog"
	"strconv"
	"time"
	"unicode/utf8"
)

// event is one record's message and attributes.
type event struct {
	msg   string
	level slog.Level
	fixed [16]slog.Attr
	n     int
	more  []slog.Attr
}

func (e *event) add(a slog.Attr) {
	if a.Equal(slog.Attr{}) {
		return
	}
	if e.n < len(e.fixed) {
		e.fixed[e.n] = a
		e.n++
		return
	}
	e.more = append(e.more, a)
}

// each calls f for every attribute, in order.
func (e *event) each(f func(slog.Attr)) {
	for _, a := range e.fixed[:e.n] {
		f(a)
	}
	for _, a := range e.more {
		f(a)
	}
}

// value returns the last attribute named key (later ones win, as with
// WithAttrs then the record's own).
func (e *event) value(key string) (slog.Value, bool) {
	for i := len(e.more) - 1; i >= 0; i-- {
		if e.more[i].Key == key {
			return e.more[i].Value.Resolve(), true
		}
	}
	for i := e.n - 1; i >= 0; i-- {
		if e.fixed[i].Key == key {
			return e.fixed[i].Value.Resolve(), true
		}
	}
	return slog.Value{}, false
}

func (e *event) has(key string) bool {
	_, ok := e.value(key)
	return ok
}

// maxField caps each value written: peers choose HELO names, addresses,
// Message-IDs and reply texts.
const maxField = 2048

// str appends the value of key, cleaned.
func (e *event) str(b []byte, key string) []byte {
	v, ok := e.value(key)
	if !ok {
		return b
	}
	return appendValue(b, v)
}

// appendValue appends v, cleaned.
func appendValue(b []byte, v slog.Value) []byte {
	switch v.Kind() {
	case slog.KindString:
		return appendClean(b, v.String())
	case slog.KindInt64:
		return strconv.AppendInt(b, v.Int64(), 10)
	case slog.KindUint64:
		return strconv.AppendUint(b, v.Uint64(), 10)
	}
	return appendClean(b, v.String())
}

// appendClean appends s with control characters and invalid UTF-8
// replaced by '?', as Postfix's printable(), and cut at maxField bytes.
func appendClean(b []byte, s string) []byte {
	if len(s) > maxField {
		s = s[:maxField]
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			b = append(b, c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
			b = append(b, '?')
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return b
}

// lines writes the lines of one record: start begins a line (its
// prefix), the renderer appends the body to buf, end writes it.
type lines struct {
	out *output
	t   time.Time
	buf []byte
	err error
}

func (w *lines) start(program string, level slog.Level) {
	w.buf = w.out.prefix(w.buf[:0], w.t, program, level)
}

func (w *lines) end() {
	if !w.out.syslog {
		w.buf = append(w.buf, '\n')
	}
	w.out.mu.Lock()
	_, err := w.out.w.Write(w.buf)
	w.out.mu.Unlock()
	if err != nil && w.err == nil {
		w.err = err
	}
}

// render writes the lines of one event.
func render(e *event, w *lines) {
	switch e.msg {
	case Connect:
		w.start("smtpd", e.level)
		w.buf = e.str(append(w.buf, "connect from "...), KeyClient)
		w.end()
		return
	case Disconnect:
		w.start("smtpd", e.level)
		w.buf = e.str(append(w.buf, "disconnect from "...), KeyClient)
		if e.has(KeyCommands) {
			w.buf = e.str(append(w.buf, ' '), KeyCommands)
		}
		w.end()
		return
	case Reject:
		if e.has(KeyErr) {
			w.start("smtpd", slog.LevelWarn)
			// As Postfix's table and DNS warnings: no queue ID.
			w.buf = e.str(append(w.buf, "warning: "...), KeyErr)
			w.end()
		}
		w.start("smtpd", e.level)
		w.buf = e.reject(w.buf)
		w.end()
		return
	case ProxyAccept, ProxyReject:
		// smtpd.c: msg_info("proxy-%s: %s: %s;%s"), no queue ID.
		w.start("smtpd", e.level)
		w.buf = append(w.buf, e.msg...)
		w.buf = e.str(append(w.buf, ": "...), KeyStage)
		w.buf = e.str(append(w.buf, ": "...), KeyReply)
		w.buf = e.whatsup(append(w.buf, ';'))
		w.end()
		return
	case MilterReject, MilterHold, MilterDiscard:
		if e.has(KeyStage) && e.has(KeyClient) {
			program := "smtpd"
			if v, _ := e.value(KeyStage); v.String() == "END-OF-MESSAGE" {
				program = "cleanup"
			}
			w.start(program, e.level)
			w.buf = e.reject(w.buf)
			w.end()
			return
		}
	case Hold, Discard, Filter, Redirect, Bcc, Warn, Info, RejectWarning:
		if e.has(KeyStage) && e.has(KeyClient) {
			w.start("smtpd", e.level)
			w.buf = e.reject(w.buf)
			w.end()
			return
		}
	case Content:
		if e.has(KeyQueueID) && e.has(KeyKind) {
			w.start("cleanup", e.level)
			w.buf = e.content(w.buf)
			w.end()
			return
		}
	case DeliveryContent:
		if e.has(KeyQueueID) && e.has(KeyKind) {
			w.start(e.deliveryProgram(), e.level)
			w.buf = e.str(e.queueID(w.buf), KeyKind)
			w.buf = e.str(append(w.buf, ": "...), KeyContext)
			w.buf = e.str(append(w.buf, ' '), KeyText)
			if v, ok := e.value(KeyReason); ok && v.String() != "" {
				w.buf = e.str(append(w.buf, ": "...), KeyReason)
			}
			w.end()
			return
		}
	case Client:
		if e.has(KeyClient) {
			// "NOQUEUE: client=" when the message goes to a before-queue
			// filter (smtpd.c's mail_open_stream).
			w.start("smtpd", e.level)
			if e.has(KeyQueueID) {
				w.buf = e.queueID(w.buf)
			} else {
				w.buf = append(w.buf, "NOQUEUE: "...)
			}
			w.buf = e.str(append(w.buf, "client="...), KeyClient)
			if e.has(KeyOrigQueueID) {
				w.buf = e.str(append(w.buf, ", orig_queue_id="...), KeyOrigQueueID)
			}
			if e.has(KeyOrigClient) {
				w.buf = e.str(append(w.buf, ", orig_client="...), KeyOrigClient)
			}
			w.end()
			return
		}
	case Queued:
		if e.has(KeyQueueID) {
			return // Postfix has no line for it
		}
	case MessageID:
		if e.has(KeyQueueID) {
			w.start("cleanup", e.level)
			w.buf = e.queueID(w.buf)
			if v, ok := e.value(KeyResent); ok && v.Kind() == slog.KindBool && v.Bool() {
				w.buf = append(w.buf, "resent-"...)
			}
			w.buf = append(w.buf, "message-id="...)
			if v, ok := e.value(KeyMessageID); ok && v.Any() != "" {
				w.buf = appendValue(w.buf, v)
			} else {
				w.buf = append(w.buf, "<>"...)
			}
			w.end()
			return
		}
	case Active:
		if e.has(KeyQueueID) {
			w.start("qmgr", e.level)
			w.buf = e.str(append(e.queueID(w.buf), "from=<"...), KeyFrom)
			w.buf = e.str(append(w.buf, ">, size="...), KeySize)
			w.buf = e.str(append(w.buf, ", nrcpt="...), KeyNrcpt)
			w.buf = append(w.buf, " (queue active)"...)
			w.end()
			return
		}
	case Delivery:
		if st, _ := e.value(KeyStatus); st.Any() == "expired" && e.has(KeyQueueID) {
			return // Postfix logs the message's expiry (Expired), not each recipient's
		}
		if e.has(KeyQueueID) && e.has(KeyTo) {
			w.start(e.deliveryProgram(), e.level)
			w.buf = e.delivery(w.buf)
			w.end()
			return
		}
	case Expired:
		if e.has(KeyQueueID) {
			w.start("qmgr", e.level)
			w.buf = e.str(append(e.queueID(w.buf), "from=<"...), KeyFrom)
			w.buf = append(w.buf, ">, status=expired, returned to sender"...)
			w.end()
			return
		}
	case Notification:
		if e.has(KeyQueueID) && e.has(KeyNotificationID) {
			w.start("bounce", e.level)
			w.buf = e.queueID(w.buf)
			kind, _ := e.value(KeyKind)
			switch kind.Any() {
			case "delay":
				w.buf = append(w.buf, "sender delay notification: "...)
			case "success":
				w.buf = append(w.buf, "sender delivery status notification: "...)
			default:
				w.buf = append(w.buf, "sender non-delivery notification: "...)
			}
			w.buf = e.str(w.buf, KeyNotificationID)
			w.end()
			return
		}
	case Removed:
		if e.has(KeyQueueID) {
			w.start("qmgr", e.level)
			w.buf = append(e.queueID(w.buf), "removed"...)
			w.end()
			return
		}
	case NonSMTPCommand:
		if e.has(KeyClient) {
			w.start("smtpd", slog.LevelWarn)
			w.buf = e.str(append(w.buf, "warning: non-SMTP command from "...), KeyClient)
			w.buf = e.str(append(w.buf, ": "...), KeyCommand)
			w.end()
			return
		}
	case LostConnection, Timeout, TooManyErrors:
		if e.has(KeyClient) {
			w.start("smtpd", e.level)
			w.buf = append(append(w.buf, e.msg...), " after "...)
			if e.has(KeyAfter) {
				w.buf = e.str(w.buf, KeyAfter)
			} else {
				w.buf = append(w.buf, "CONNECT"...)
			}
			w.buf = e.str(append(w.buf, " from "...), KeyClient)
			w.end()
			return
		}
	}
	w.start(e.otherProgram(), e.level)
	w.buf = e.other(w.buf)
	w.end()
}

// queueID appends "QUEUEID: " when the event has one.
func (e *event) queueID(b []byte) []byte {
	if !e.has(KeyQueueID) {
		return b
	}
	return append(e.str(b, KeyQueueID), ": "...)
}

// reject is smtpd_check.c's log_whatsup: "NOQUEUE: reject: RCPT from
// host[addr]: 554 5.7.1 ...; from=<s> to=<r> proto=ESMTP helo=<h>", the
// event's name ("reject", "hold"...) after the queue ID.
func (e *event) reject(b []byte) []byte {
	if e.has(KeyQueueID) {
		b = e.queueID(b)
	} else {
		b = append(b, "NOQUEUE: "...)
	}
	b = append(b, e.msg...)
	b = e.str(append(b, ": "...), KeyStage)
	b = e.str(append(b, " from "...), KeyClient)
	b = e.str(append(b, ": "...), KeyReply)
	return e.whatsup(append(b, ';'))
}

// whatsup appends smtpd_whatsup's " from=<s> to=<r> proto=ESMTP
// helo=<h>", each when known.
func (e *event) whatsup(b []byte) []byte {
	if e.has(KeyFrom) {
		b = append(e.str(append(b, " from=<"...), KeyFrom), '>')
	}
	if e.has(KeyTo) {
		b = append(e.str(append(b, " to=<"...), KeyTo), '>')
	}
	if e.has(KeyProto) {
		b = e.str(append(b, " proto="...), KeyProto)
	}
	if e.has(KeyHelo) {
		b = append(e.str(append(b, " helo=<"...), KeyHelo), '>')
	}
	return b
}

// content is cleanup_act_log's line for a header or body check action.
func (e *event) content(b []byte) []byte {
	b = e.str(e.queueID(b), KeyKind)
	b = e.str(append(b, ": "...), KeyContext)
	b = e.str(append(b, ' '), KeyText)
	b = e.whatsup(append(e.str(append(b, " from "...), KeyClient), ';'))
	if v, ok := e.value(KeyReason); ok && v.String() != "" {
		b = e.str(append(b, ": "...), KeyReason)
	}
	return b
}

// delivery is log_adhoc.c's line.
func (e *event) delivery(b []byte) []byte {
	b = append(e.str(append(e.queueID(b), "to=<"...), KeyTo), '>')
	if e.has(KeyOrigTo) {
		b = append(e.str(append(b, ", orig_to=<"...), KeyOrigTo), '>')
	}
	b = append(b, ", relay="...)
	if e.has(KeyRelay) {
		b = e.str(b, KeyRelay)
	} else {
		b = append(b, "none"...)
	}
	b = e.str(append(b, ", delay="...), KeyDelay)
	b = e.str(append(b, ", delays="...), KeyDelays)
	b = e.str(append(b, ", dsn="...), KeyDSN)
	b = append(b, ", status="...)
	st, _ := e.value(KeyStatus)
	if st.Any() == "discarded" {
		b = append(b, "sent"...) // the discard transport's word
	} else {
		b = appendValue(b, st)
	}
	b = e.str(append(b, " ("...), KeyReason)
	return append(b, ')')
}

// deliveryProgram names the Postfix daemon that logs a delivery: the
// transport's delivery agent, or error(8) when nothing was attempted.
func (e *event) deliveryProgram() string {
	tr, ok := e.value(KeyTransport)
	if !ok {
		return "error"
	}
	switch tr.String() {
	case "relay":
		return "relay/smtp"
	case "", "error", "retry":
		return "error"
	case "discard":
		return "discard"
	}
	return "smtp"
}

// otherProgram names the program of a record that is no relay event.
func (e *event) otherProgram() string {
	switch {
	case e.has(KeyClient):
		return "smtpd"
	case e.has(KeyQueueID):
		return "qmgr"
	}
	return "mxrelayd"
}

// other renders a record that is no relay event: "warning: QUEUEID:
// message key=value ...".
func (e *event) other(b []byte) []byte {
	switch {
	case e.level >= slog.LevelError:
		b = append(b, "error: "...)
	case e.level >= slog.LevelWarn:
		b = append(b, "warning: "...)
	}
	b = e.queueID(b)
	b = appendClean(b, e.msg)
	e.each(func(a slog.Attr) {
		if a.Key == KeyQueueID {
			return
		}
		b = appendAttr(b, "", a)
	})
	return b
}

// appendAttr appends " key=value", groups flattened as "group.key".
func appendAttr(b []byte, prefix string, a slog.Attr) []byte {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		p := a.Key
		if prefix != "" {
			p = prefix + "." + p
		}
		for _, g := range v.Group() {
			b = appendAttr(b, p, g)
		}
		return b
	}
	b = append(b, ' ')
	if prefix != "" {
		b = appendClean(append(appendClean(b, prefix), '.'), a.Key)
	} else {
		b = appendClean(b, a.Key)
	}
	b = append(b, '=')
	return appendValue(b, v)
}
