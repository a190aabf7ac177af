package maillog

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

var stamp = time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC)

// record renders one record with a fixed time, PID and host.
func record(t *testing.T, o Options, level slog.Level, msg string, args ...any) string {
	t.Helper()
	var buf bytes.Buffer
	o.Hostname, o.PID, o.Location = "mx2.example.test", 4242, time.UTC
	h := NewHandler(&buf, &o)
	r := slog.NewRecord(stamp, level, msg, 0)
	r.Add(args...)
	if err := h.Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// Each relay event becomes the line Postfix 3.7 writes for it, with the
// prefix a syslog daemon writes.
func TestHandlerEvents(t *testing.T) {
	const p = "Dec  7 01:02:03 mx2 postfix/"
	for _, c := range []struct {
		name string
		msg  string
		args []any
		want string
	}{
		{"connect", Connect, []any{KeyClient, "unknown[192.0.2.1]"},
			p + "smtpd[4242]: connect from unknown[192.0.2.1]\n"},
		{"disconnect", Disconnect, []any{KeyClient, "unknown[192.0.2.1]", KeyCommands, "ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4"},
			p + "smtpd[4242]: disconnect from unknown[192.0.2.1] ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4\n"},
		{"reject before a queue ID", Reject, []any{KeyStage, "RCPT", KeyClient, "unknown[192.0.2.1]",
			KeyReply, "554 5.7.1 <u@elsewhere.test>: Relay access denied", KeyFrom, "", KeyTo, "u@elsewhere.test",
			KeyProto, "ESMTP", KeyHelo, "client.test", "reason", "reject_unauth_destination"},
			p + "smtpd[4242]: NOQUEUE: reject: RCPT from unknown[192.0.2.1]: 554 5.7.1 <u@elsewhere.test>: Relay access denied; from=<> to=<u@elsewhere.test> proto=ESMTP helo=<client.test>\n"},
		{"reject at CONNECT", Reject, []any{KeyStage, "CONNECT", KeyClient, "unknown[192.0.2.1]",
			KeyReply, "554 5.7.1 <unknown[192.0.2.1]>: Client host rejected: Access denied", KeyProto, "SMTP"},
			p + "smtpd[4242]: NOQUEUE: reject: CONNECT from unknown[192.0.2.1]: 554 5.7.1 <unknown[192.0.2.1]>: Client host rejected: Access denied; proto=SMTP\n"},
		{"reject with a queue ID and a cause", Reject, []any{KeyQueueID, "ABC", KeyStage, "RCPT", KeyClient, "unknown[192.0.2.1]",
			KeyReply, "451 4.3.0 <v@b.test>: Temporary lookup failure", KeyFrom, "s@a.test", KeyTo, "v@b.test", KeyProto, "ESMTP",
			KeyErr, errors.New("hash:/etc/postfix/access: read error")},
			p + "smtpd[4242]: warning: hash:/etc/postfix/access: read error\n" +
				p + "smtpd[4242]: ABC: reject: RCPT from unknown[192.0.2.1]: 451 4.3.0 <v@b.test>: Temporary lookup failure; from=<s@a.test> to=<v@b.test> proto=ESMTP\n"},
		{"hold", Hold, []any{KeyStage, "RCPT", KeyClient, "unknown[192.0.2.1]", KeyReply, "<h@b.test>: Recipient address triggers HOLD action",
			KeyFrom, "s@a.test", KeyTo, "h@b.test", KeyProto, "ESMTP", KeyHelo, "client.test"},
			p + "smtpd[4242]: NOQUEUE: hold: RCPT from unknown[192.0.2.1]: <h@b.test>: Recipient address triggers HOLD action; from=<s@a.test> to=<h@b.test> proto=ESMTP helo=<client.test>\n"},
		// Postfix 3.7.11's lines (golden lab filter and accessactions).
		{"filter", Filter, []any{KeyStage, "RCPT", KeyClient, "unknown[127.0.0.2]", KeyReply, "<afilter@dest.test>: Recipient address triggers FILTER smtp:[127.0.0.9]:25",
			KeyFrom, "someone@sender.test", KeyTo, "afilter@dest.test", KeyProto, "ESMTP", KeyHelo, "inject.oracle.test"},
			p + "smtpd[4242]: NOQUEUE: filter: RCPT from unknown[127.0.0.2]: <afilter@dest.test>: Recipient address triggers FILTER smtp:[127.0.0.9]:25; from=<someone@sender.test> to=<afilter@dest.test> proto=ESMTP helo=<inject.oracle.test>\n"},
		{"redirect", Redirect, []any{KeyQueueID, "180EFA9F7BB", KeyStage, "RCPT", KeyClient, "unknown[127.0.0.2]", KeyReply, "<redir2@dest.test>: Recipient address triggers REDIRECT moved2@third.test",
			KeyFrom, "someone@sender.test", KeyTo, "redir2@dest.test", KeyProto, "ESMTP", KeyHelo, "inject.oracle.test"},
			p + "smtpd[4242]: 180EFA9F7BB: redirect: RCPT from unknown[127.0.0.2]: <redir2@dest.test>: Recipient address triggers REDIRECT moved2@third.test; from=<someone@sender.test> to=<redir2@dest.test> proto=ESMTP helo=<inject.oracle.test>\n"},
		// The before-queue filter's lines, as Postfix 3.7.11 wrote them
		// (relay/smtpdproxy/testdata/lab/golden/proxy*.maillog).
		{"proxy client", Client, []any{KeyClient, "localhost[127.0.0.1]"},
			p + "smtpd[4242]: NOQUEUE: client=localhost[127.0.0.1]\n"},
		{"proxy-accept", ProxyAccept, []any{KeyStage, "END-OF-MESSAGE", KeyClient, "localhost[127.0.0.1]", KeyReply, "250 2.0.0 Ok: queued by oracle-sink 127.0.0.9:10024",
			KeyFrom, "", KeyTo, "ok@dest.test", KeyProto, "ESMTP", KeyHelo, "inject.oracle.test"},
			p + "smtpd[4242]: proxy-accept: END-OF-MESSAGE: 250 2.0.0 Ok: queued by oracle-sink 127.0.0.9:10024; from=<> to=<ok@dest.test> proto=ESMTP helo=<inject.oracle.test>\n"},
		{"proxy-reject", ProxyReject, []any{KeyStage, "END-OF-MESSAGE", KeyClient, "localhost[127.0.0.1]", KeyReply, "550 5.1.1 <bad@dest.test>: Recipient address rejected: no such user",
			KeyFrom, "", KeyTo, "ok@dest.test", KeyProto, "ESMTP", KeyHelo, "inject.oracle.test"},
			p + "smtpd[4242]: proxy-reject: END-OF-MESSAGE: 550 5.1.1 <bad@dest.test>: Recipient address rejected: no such user; from=<> to=<ok@dest.test> proto=ESMTP helo=<inject.oracle.test>\n"},
		{"milter-reject at RCPT", MilterReject, []any{KeyQueueID, "ABC", KeyStage, "RCPT", KeyClient, "unknown[192.0.2.1]", KeyReply, "550 5.7.1 Command rejected",
			KeyFrom, "s@a.test", KeyTo, "u@x.test", KeyProto, "ESMTP", KeyHelo, "client.test"},
			p + "smtpd[4242]: ABC: milter-reject: RCPT from unknown[192.0.2.1]: 550 5.7.1 Command rejected; from=<s@a.test> to=<u@x.test> proto=ESMTP helo=<client.test>\n"},
		{"milter-reject at END-OF-MESSAGE", MilterReject, []any{KeyQueueID, "ABC", KeyStage, "END-OF-MESSAGE", KeyClient, "unknown[192.0.2.1]", KeyReply, "5.7.1 Command rejected",
			KeyFrom, "s@a.test", KeyProto, "ESMTP", KeyHelo, "client.test"},
			p + "cleanup[4242]: ABC: milter-reject: END-OF-MESSAGE from unknown[192.0.2.1]: 5.7.1 Command rejected; from=<s@a.test> proto=ESMTP helo=<client.test>\n"},
		{"reject_warning", RejectWarning, []any{KeyQueueID, "ABC", KeyStage, "RCPT", KeyClient, "unknown[192.0.2.1]", KeyReply, "554 5.7.1 <u@x.test>: Relay access denied",
			KeyFrom, "s@a.test", KeyTo, "u@x.test", KeyProto, "ESMTP"},
			p + "smtpd[4242]: ABC: reject_warning: RCPT from unknown[192.0.2.1]: 554 5.7.1 <u@x.test>: Relay access denied; from=<s@a.test> to=<u@x.test> proto=ESMTP\n"},
		{"client", Client, []any{KeyQueueID, "ABC", KeyClient, "unknown[192.0.2.1]"},
			p + "smtpd[4242]: ABC: client=unknown[192.0.2.1]\n"},
		{"message-id", MessageID, []any{KeyQueueID, "ABC", KeyMessageID, "<m.1@a.test>"},
			p + "cleanup[4242]: ABC: message-id=<m.1@a.test>\n"},
		{"no Message-ID", MessageID, []any{KeyQueueID, "ABC", KeyMessageID, ""},
			p + "cleanup[4242]: ABC: message-id=<>\n"},
		{"queued: no line", Queued, []any{KeyQueueID, "ABC", KeyClient, "unknown[192.0.2.1]", KeyFrom, "s@a.test", KeySize, 404, KeyNrcpt, 1},
			""},
		{"active", Active, []any{KeyQueueID, "ABC", KeyFrom, "", KeySize, int64(404), KeyNrcpt, 2},
			p + "qmgr[4242]: ABC: from=<>, size=404, nrcpt=2 (queue active)\n"},
		{"sent by the relay transport", Delivery, []any{KeyQueueID, "ABC", KeyTo, "u@b.test", KeyRelay, "mx1.b.test[127.0.0.5]:25",
			KeyDelay, "0.21", KeyDelays, "0.02/0.02/0.05/0.13", KeyDSN, "2.0.0", KeyStatus, "sent", KeyReason, "250 2.0.0 Ok", KeyTransport, "relay"},
			p + "relay/smtp[4242]: ABC: to=<u@b.test>, relay=mx1.b.test[127.0.0.5]:25, delay=0.21, delays=0.02/0.02/0.05/0.13, dsn=2.0.0, status=sent (250 2.0.0 Ok)\n"},
		{"deferred with orig_to", Delivery, []any{KeyQueueID, "ABC", KeyTo, "u@b.test", KeyOrigTo, "alias@b.test", KeyRelay, "none",
			KeyDelay, "0", KeyDelays, "0/0/0/0", KeyDSN, "4.4.1", KeyStatus, "deferred", KeyReason, "connect to mx1.b.test[127.0.0.9]:25: Connection refused", KeyTransport, "smtp"},
			p + "smtp[4242]: ABC: to=<u@b.test>, orig_to=<alias@b.test>, relay=none, delay=0, delays=0/0/0/0, dsn=4.4.1, status=deferred (connect to mx1.b.test[127.0.0.9]:25: Connection refused)\n"},
		{"suspended: no delivery agent", Delivery, []any{KeyQueueID, "ABC", KeyTo, "u@c.test", KeyRelay, "none",
			KeyDelay, "61", KeyDelays, "61/0/0/0", KeyDSN, "4.4.1", KeyStatus, "deferred", KeyReason, "delivery temporarily suspended: connect to mx1.c.test[127.0.0.9]:25: Connection refused"},
			p + "error[4242]: ABC: to=<u@c.test>, relay=none, delay=61, delays=61/0/0/0, dsn=4.4.1, status=deferred (delivery temporarily suspended: connect to mx1.c.test[127.0.0.9]:25: Connection refused)\n"},
		{"discarded", Delivery, []any{KeyQueueID, "ABC", KeyTo, "u@b.test", KeyRelay, "none", KeyDelay, "0", KeyDelays, "0/0/0/0",
			KeyDSN, "2.0.0", KeyStatus, "discarded", KeyReason, "discarded", KeyTransport, "discard"},
			p + "discard[4242]: ABC: to=<u@b.test>, relay=none, delay=0, delays=0/0/0/0, dsn=2.0.0, status=sent (discarded)\n"},
		{"expired recipient: no line", Delivery, []any{KeyQueueID, "ABC", KeyTo, "u@b.test", KeyRelay, "none", KeyDelay, "432001",
			KeyDelays, "432001/0/0/0", KeyDSN, "4.4.1", KeyStatus, "expired", KeyReason, "connect to mx1.b.test[127.0.0.9]:25: Connection refused"},
			""},
		{"expired", Expired, []any{KeyQueueID, "ABC", KeyFrom, "s@a.test"},
			p + "qmgr[4242]: ABC: from=<s@a.test>, status=expired, returned to sender\n"},
		{"bounce", Notification, []any{KeyQueueID, "ABC", KeyKind, "failure", KeyNotificationID, "DEF", KeyTo, "s@a.test"},
			p + "bounce[4242]: ABC: sender non-delivery notification: DEF\n"},
		{"delay warning", Notification, []any{KeyQueueID, "ABC", KeyKind, "delay", KeyNotificationID, "DEF"},
			p + "bounce[4242]: ABC: sender delay notification: DEF\n"},
		{"removed", Removed, []any{KeyQueueID, "ABC"},
			p + "qmgr[4242]: ABC: removed\n"},
		{"lost connection", LostConnection, []any{KeyClient, "unknown[192.0.2.1]", KeyAfter, "DATA"},
			p + "smtpd[4242]: lost connection after DATA from unknown[192.0.2.1]\n"},
		{"timeout", Timeout, []any{KeyClient, "unknown[192.0.2.1]", KeyAfter, "END-OF-MESSAGE"},
			p + "smtpd[4242]: timeout after END-OF-MESSAGE from unknown[192.0.2.1]\n"},
		{"non-SMTP command", NonSMTPCommand, []any{KeyClient, "unknown[192.0.2.1]", KeyCommand, "GET / HTTP/1.1"},
			p + "smtpd[4242]: warning: non-SMTP command from unknown[192.0.2.1]: GET / HTTP/1.1\n"},
		{"too many errors", TooManyErrors, []any{KeyClient, "unknown[192.0.2.1]", KeyAfter, "RCPT", "errors", 20},
			p + "smtpd[4242]: too many errors after RCPT from unknown[192.0.2.1]\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := record(t, Options{}, slog.LevelInfo, c.msg, c.args...); got != c.want {
				t.Errorf("got\n%s\nwant\n%s", got, c.want)
			}
		})
	}
}

// Records that are no relay event keep their text and attributes, with
// Postfix's "warning: " and "error: " for those levels.
func TestHandlerOtherRecords(t *testing.T) {
	const p = "Dec  7 01:02:03 mx2 postfix/"
	for _, c := range []struct {
		level slog.Level
		msg   string
		args  []any
		want  string
	}{
		{slog.LevelWarn, "configuration", []any{"warning", "relay_domains is empty"},
			p + "mxrelayd[4242]: warning: configuration warning=relay_domains is empty\n"},
		{slog.LevelError, "queue file write error", []any{KeyClient, "unknown[192.0.2.1]", "err", "disk full"},
			p + "smtpd[4242]: error: queue file write error client=unknown[192.0.2.1] err=disk full\n"},
		{slog.LevelInfo, "hold", []any{KeyQueueID, "ABC", "from", "<s@a.test>"},
			p + "qmgr[4242]: ABC: hold from=<s@a.test>\n"},
		{slog.LevelInfo, "grouped", []any{slog.Group("tls", "version", "TLS1.3")},
			p + "mxrelayd[4242]: grouped tls.version=TLS1.3\n"},
		// A relay event without the attributes of its line is written as
		// any other record, not as a broken Postfix line.
		{slog.LevelInfo, Delivery, []any{KeyTo, "u@b.test"},
			p + "mxrelayd[4242]: delivery to=u@b.test\n"},
	} {
		if got := record(t, Options{}, c.level, c.msg, c.args...); got != c.want {
			t.Errorf("got\n%s\nwant\n%s", got, c.want)
		}
	}
}

// Peers choose HELO names, addresses and Message-IDs: a line break or a
// control character in them cannot start a forged log line.
func TestHandlerCleansPeerText(t *testing.T) {
	got := record(t, Options{}, slog.LevelInfo, Reject, KeyStage, "RCPT", KeyClient, "unknown[192.0.2.1]",
		KeyReply, "554 5.7.1 no", KeyTo, "a@b\nDec  7 01:02:03 mx2 postfix/qmgr[1]: X: removed", KeyHelo, "h\x00\x1b[31m\xff")
	if strings.Count(got, "\n") != 1 || !strings.HasSuffix(got, "\n") {
		t.Fatalf("not one line: %q", got)
	}
	if !strings.Contains(got, "to=<a@b?Dec  7") || !strings.Contains(got, "helo=<h??[31m?>") {
		t.Errorf("control characters not replaced: %q", got)
	}
	long := record(t, Options{}, slog.LevelInfo, MessageID, KeyQueueID, "ABC", KeyMessageID, strings.Repeat("x", 10000))
	if len(long) > maxField+200 {
		t.Errorf("a %d-byte Message-ID made a %d-byte line", 10000, len(long))
	}
}

// For syslog, each line is one message with the mail facility's
// priority, the RFC 3164 time stamp and no host (the daemon adds it), and
// no newline.
func TestHandlerSyslog(t *testing.T) {
	got := record(t, Options{Syslog: true}, slog.LevelInfo, Removed, KeyQueueID, "ABC")
	if want := "<22>Dec  7 01:02:03 postfix/qmgr[4242]: ABC: removed"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	got = record(t, Options{Syslog: true, SyslogName: "postfix-mx"}, slog.LevelWarn, "table changed")
	if want := "<20>Dec  7 01:02:03 postfix-mx/mxrelayd[4242]: warning: table changed"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// WithAttrs attributes count as the record's own; Level filters.
func TestHandlerWithAttrsAndLevel(t *testing.T) {
	var buf bytes.Buffer
	h := NewHandler(&buf, &Options{Hostname: "mx2", PID: 1, Location: time.UTC, Level: slog.LevelWarn})
	l := slog.New(h).With(KeyQueueID, "ABC")
	l.Info(Removed)
	if buf.Len() != 0 {
		t.Fatalf("an Info record passed Level Warn: %q", buf.String())
	}
	l.Warn("cannot remove", "err", "EIO")
	if got := buf.String(); !strings.HasSuffix(got, " mx2 postfix/qmgr[1]: warning: ABC: cannot remove err=EIO\n") {
		t.Errorf("got %q", got)
	}
}

// MaillogFile: the day as Postfix's own maillog_file writes it.
func TestHandlerMaillogFile(t *testing.T) {
	got := record(t, Options{MaillogFile: true}, slog.LevelInfo, Removed, KeyQueueID, "ABC")
	if want := "Dec 07 01:02:03 mx2 postfix/qmgr[4242]: ABC: removed\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
