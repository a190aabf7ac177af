package maillog

import (
	"log/slog"
	"strconv"
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

// emit writes one line: the program, the level (for syslog's severity)
// and the body after the prefix.
type emit func(program string, level slog.Level, body func([]byte) []byte)

// render writes the lines of one event.
func render(e *event, out emit) {
	switch e.msg {
	case Connect:
		out("smtpd", e.level, func(b []byte) []byte {
			return e.str(append(b, "connect from "...), KeyClient)
		})
		return
	case Disconnect:
		out("smtpd", e.level, func(b []byte) []byte {
			b = e.str(append(b, "disconnect from "...), KeyClient)
			if e.has(KeyCommands) {
				b = e.str(append(b, ' '), KeyCommands)
			}
			return b
		})
		return
	case Reject:
		if e.has(KeyErr) {
			out("smtpd", slog.LevelWarn, func(b []byte) []byte {
				b = append(b, "warning: "...)
				b = e.queueID(b)
				return e.str(b, KeyErr)
			})
		}
		out("smtpd", e.level, e.reject)
		return
	case Client:
		if e.has(KeyQueueID) {
			out("smtpd", e.level, func(b []byte) []byte {
				return e.str(append(e.queueID(b), "client="...), KeyClient)
			})
			return
		}
	case Queued:
		if e.has(KeyQueueID) {
			return // Postfix has no line for it
		}
	case MessageID:
		if e.has(KeyQueueID) {
			out("cleanup", e.level, func(b []byte) []byte {
				b = append(e.queueID(b), "message-id="...)
				if v, ok := e.value(KeyMessageID); ok && v.Any() != "" {
					return appendValue(b, v)
				}
				return append(b, "<>"...)
			})
			return
		}
	case Active:
		if e.has(KeyQueueID) {
			out("qmgr", e.level, func(b []byte) []byte {
				b = e.str(append(e.queueID(b), "from=<"...), KeyFrom)
				b = e.str(append(b, ">, size="...), KeySize)
				b = e.str(append(b, ", nrcpt="...), KeyNrcpt)
				return append(b, " (queue active)"...)
			})
			return
		}
	case Delivery:
		if e.has(KeyQueueID) && e.has(KeyTo) {
			out(e.deliveryProgram(), e.level, e.delivery)
			return
		}
	case Expired:
		if e.has(KeyQueueID) {
			out("qmgr", e.level, func(b []byte) []byte {
				b = e.str(append(e.queueID(b), "from=<"...), KeyFrom)
				return append(b, ">, status=expired, returned to sender"...)
			})
			return
		}
	case Notification:
		if e.has(KeyQueueID) && e.has(KeyNotificationID) {
			out("bounce", e.level, func(b []byte) []byte {
				b = e.queueID(b)
				kind, _ := e.value(KeyKind)
				switch kind.Any() {
				case "delay":
					b = append(b, "sender delay notification: "...)
				case "success":
					b = append(b, "sender delivery status notification: "...)
				default:
					b = append(b, "sender non-delivery notification: "...)
				}
				return e.str(b, KeyNotificationID)
			})
			return
		}
	case Removed:
		if e.has(KeyQueueID) {
			out("qmgr", e.level, func(b []byte) []byte {
				return append(e.queueID(b), "removed"...)
			})
			return
		}
	case LostConnection, Timeout, TooManyErrors:
		if e.has(KeyClient) {
			out("smtpd", e.level, func(b []byte) []byte {
				b = append(b, e.msg...)
				b = append(b, " after "...)
				if e.has(KeyAfter) {
					b = e.str(b, KeyAfter)
				} else {
					b = append(b, "CONNECT"...)
				}
				return e.str(append(b, " from "...), KeyClient)
			})
			return
		}
	}
	out(e.otherProgram(), e.level, e.other)
}

// queueID appends "QUEUEID: " when the event has one.
func (e *event) queueID(b []byte) []byte {
	if !e.has(KeyQueueID) {
		return b
	}
	return append(e.str(b, KeyQueueID), ": "...)
}

// reject is smtpd_check.c's log_whatsup: "NOQUEUE: reject: RCPT from
// host[addr]: 554 5.7.1 ...; from=<s> to=<r> proto=ESMTP helo=<h>".
func (e *event) reject(b []byte) []byte {
	if e.has(KeyQueueID) {
		b = e.queueID(b)
	} else {
		b = append(b, "NOQUEUE: "...)
	}
	b = e.str(append(b, "reject: "...), KeyStage)
	b = e.str(append(b, " from "...), KeyClient)
	b = e.str(append(b, ": "...), KeyReply)
	b = append(b, ';')
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
