package relay

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/queue"
)

const origMsg = "Received: from client.example (client.example [192.0.2.7])\r\n" +
	"\tby mx.example.net (Postfix) with ESMTP id QID1\r\n" +
	"\tfor <u@example.test>; Tue,  3 Nov 2026 19:10:36 +0000 (UTC)\r\n" +
	"From: s@sender.example\r\nSubject: hello\r\n\r\nthe body\r\nline two\r\n"

// parsedDSN is a DSN taken apart with the standard library, as a
// receiving MUA would.
type parsedDSN struct {
	header  mail.Header
	parts   []*multipart.Part
	bodies  [][]byte
	message textproto.MIMEHeader   // per-message fields
	rcpts   []textproto.MIMEHeader // per-recipient fields
}

func parseDSN(t *testing.T, raw []byte) parsedDSN {
	t.Helper()
	if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		t.Fatalf("DSN has a bare LF:\n%s", raw)
	}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("Content-Type %q: %v", m.Header.Get("Content-Type"), err)
	}
	p := parsedDSN{header: m.Header}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(part)
		if err != nil {
			t.Fatal(err)
		}
		p.parts = append(p.parts, part)
		p.bodies = append(p.bodies, b)
	}
	if len(p.parts) != 3 {
		t.Fatalf("%d parts, want 3", len(p.parts))
	}
	tr := textproto.NewReader(bufio.NewReader(bytes.NewReader(p.bodies[1])))
	if p.message, err = tr.ReadMIMEHeader(); err != nil {
		t.Fatalf("per-message fields: %v", err)
	}
	for {
		h, err := tr.ReadMIMEHeader()
		if len(h) > 0 {
			p.rcpts = append(p.rcpts, h)
		}
		if err != nil {
			break
		}
	}
	return p
}

func TestDSNFailure(t *testing.T) {
	arrival := time.Date(2026, 11, 3, 19, 10, 36, 0, time.UTC)
	d := &DSN{
		Kind: DSNFailure, Hostname: "mx.example.net", Origin: "example.net", QueueID: "QID1",
		Sender: "s@sender.example", EnvID: "env-1", Arrival: arrival, Date: arrival.Add(time.Hour),
		Recipients: []DSNRecipient{{
			Address: "u@example.test", Status: "5.1.1", RemoteMTA: "mx.example.test",
			Diagnostic: "550 5.1.1 <u@example.test>: Recipient address rejected: User unknown in local recipient table",
			Reason:     "host mx.example.test[192.0.2.1] said: 550 5.1.1 <u@example.test>: Recipient address rejected: User unknown in local recipient table (in reply to RCPT TO command)",
		}, {
			Address: "v@example.test", ORCPT: "rfc822;V@example.test", Status: "5.4.6",
			Reason: "mail for example.test loops back to myself",
		}},
	}
	var buf bytes.Buffer
	if err := d.Write(&buf, strings.NewReader(origMsg)); err != nil {
		t.Fatal(err)
	}
	p := parseDSN(t, buf.Bytes())
	for k, want := range map[string]string{
		"From":           "Mail Delivery System <MAILER-DAEMON@example.net>",
		"To":             "s@sender.example",
		"Subject":        "Undelivered Mail Returned to Sender",
		"Auto-Submitted": "auto-replied",
		"MIME-Version":   "1.0",
		"Message-Id":     "<20261103201036.QID1@mx.example.net>",
	} {
		if got := p.header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if _, params, _ := mime.ParseMediaType(p.header.Get("Content-Type")); params["boundary"] != fmt.Sprintf("QID1.%d/mx.example.net", d.Date.Unix()) {
		t.Errorf("boundary %q, want QUEUEID.UNIXTIME/HOSTNAME", params["boundary"])
	}
	if got := p.parts[0].Header.Get("Content-Description"); got != "Notification" {
		t.Errorf("part 1 description %q", got)
	}
	note := string(p.bodies[0])
	for _, want := range []string{
		"This is the mail system at host mx.example.net.",
		"I'm sorry to have to inform you",
		"<u@example.test>: host mx.example.test[192.0.2.1] said: 550 5.1.1",
		"\r\n    ", // folded
		"<v@example.test>: mail for example.test loops back to myself",
	} {
		if !strings.Contains(note, want) {
			t.Errorf("notification lacks %q:\n%s", want, note)
		}
	}
	if ct := p.parts[1].Header.Get("Content-Type"); ct != "message/delivery-status" {
		t.Errorf("part 2 type %q", ct)
	}
	for k, want := range map[string]string{
		"Reporting-Mta":        "dns; mx.example.net",
		"Original-Envelope-Id": "env-1",
		"X-Postfix-Queue-Id":   "QID1",
		"X-Postfix-Sender":     "rfc822; s@sender.example",
		"Arrival-Date":         "Tue,  3 Nov 2026 19:10:36 +0000 (UTC)",
	} {
		if got := p.message.Get(k); got != want {
			t.Errorf("per-message %s: %q, want %q", k, got, want)
		}
	}
	if len(p.rcpts) != 2 {
		t.Fatalf("%d recipient blocks, want 2", len(p.rcpts))
	}
	r0, r1 := p.rcpts[0], p.rcpts[1]
	for k, want := range map[string]string{
		"Final-Recipient":    "rfc822; u@example.test",
		"Original-Recipient": "rfc822; u@example.test",
		"Action":             "failed",
		"Status":             "5.1.1",
		"Remote-Mta":         "dns; mx.example.test",
		"Diagnostic-Code":    "smtp; 550 5.1.1 <u@example.test>: Recipient address rejected: User unknown in local recipient table",
	} {
		if got := strings.Join(strings.Fields(r0.Get(k)), " "); got != want {
			t.Errorf("recipient 1 %s: %q, want %q", k, got, want)
		}
	}
	if r1.Get("Original-Recipient") != "rfc822;V@example.test" || r1.Get("Diagnostic-Code") != "X-Postfix; mail for example.test loops back to myself" || r1.Get("Remote-Mta") != "" {
		t.Errorf("recipient 2: %v", r1)
	}
	if ct := p.parts[2].Header.Get("Content-Type"); ct != "message/rfc822" {
		t.Errorf("part 3 type %q", ct)
	}
	if string(p.bodies[2]) != origMsg {
		t.Errorf("returned message differs:\n%q\nwant\n%q", p.bodies[2], origMsg)
	}
}

func TestDSNHeadersOnly(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    DSN
	}{
		{"RET=HDRS", DSN{Ret: queue.RetHdrs}},
		{"too big", DSN{MaxOriginal: 100}},
		{"delay", DSN{Kind: DSNDelay, WillRetryUntil: time.Date(2026, 11, 8, 19, 10, 36, 0, time.UTC), DelayWarningTime: 4 * time.Hour, MaximalQueueLifetime: 5 * 24 * time.Hour}},
	} {
		d := tc.d
		d.Hostname, d.QueueID, d.Sender = "mx.example.net", "QID2", "s@sender.example"
		d.Recipients = []DSNRecipient{{Address: "u@example.test", Reason: "connect to mx.example.test[192.0.2.1]:25: Connection refused"}}
		var buf bytes.Buffer
		if err := d.Write(&buf, strings.NewReader(origMsg)); err != nil {
			t.Fatal(err)
		}
		p := parseDSN(t, buf.Bytes())
		if ct := p.parts[2].Header.Get("Content-Type"); ct != "text/rfc822-headers" {
			t.Errorf("%s: part 3 type %q", tc.name, ct)
		}
		if got := string(p.bodies[2]); strings.Contains(got, "the body") || !strings.Contains(got, "Subject: hello") {
			t.Errorf("%s: part 3 is not the headers only:\n%s", tc.name, got)
		}
		if d.Kind == DSNDelay {
			if p.header.Get("Subject") != "Delayed Mail (still being retried)" || p.rcpts[0].Get("Action") != "delayed" ||
				p.rcpts[0].Get("Status") != "4.0.0" || p.rcpts[0].Get("Will-Retry-Until") != "Sun,  8 Nov 2026 19:10:36 +0000 (UTC)" {
				t.Errorf("delay report: %v %v", p.header, p.rcpts[0])
			}
			if !strings.Contains(string(p.bodies[0]), "for more than 4 hour(s).\r\nIt will be retried until it is 5 day(s) old.") {
				t.Errorf("delay text:\n%s", p.bodies[0])
			}
		}
	}
}

func TestDSNUTF8AndEightBit(t *testing.T) {
	d := &DSN{Hostname: "mx.example.net", QueueID: "QID3", Sender: "s@example", SMTPUTF8: true,
		Recipients: []DSNRecipient{{Address: "ü@example.test", Reason: "x"}}}
	var buf bytes.Buffer
	if err := d.Write(&buf, strings.NewReader("Subject: grüße\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	p := parseDSN(t, buf.Bytes())
	if p.parts[1].Header.Get("Content-Type") != "message/global-delivery-status" || p.parts[2].Header.Get("Content-Type") != "message/global" {
		t.Errorf("SMTPUTF8 part types: %v / %v", p.parts[1].Header, p.parts[2].Header)
	}
	if p.header.Get("Content-Transfer-Encoding") != "8bit" || p.parts[2].Header.Get("Content-Transfer-Encoding") != "8bit" {
		t.Error("8bit original without Content-Transfer-Encoding: 8bit")
	}
}

func TestDSNUnavailableOriginal(t *testing.T) {
	d := &DSN{Hostname: "h.example", QueueID: "QID4", Sender: "s@example", Recipients: []DSNRecipient{{Address: "u@x.example", Reason: "r"}}}
	var buf bytes.Buffer
	if err := d.Write(&buf, nil); err != nil {
		t.Fatal(err)
	}
	p := parseDSN(t, buf.Bytes())
	if !strings.Contains(string(p.bodies[2]), "Undelivered message unavailable") {
		t.Errorf("part 3: %q", p.bodies[2])
	}
}

func TestStatusFromReason(t *testing.T) {
	for in, want := range map[string]string{
		"550 5.1.1 no such user":    "5.1.1",
		"5.4.6 mail loops":          "5.4.6",
		"451 try later":             "4.0.0",
		"550 9.9.9 bogus":           "4.0.0",
		"connect: refused 5.1.1 x":  "4.0.0",
		"":                          "4.0.0",
		"421 4.7.0 too many errors": "4.7.0",
		"host mx.example[192.0.2.1] said: 452 4.2.2 mailbox full (in reply to RCPT TO command)": "4.2.2",
		"host mx.example[192.0.2.1] said: 550 4.2.2 class mismatch":                             "4.0.0",
		"connect to mx.example[192.0.2.1]:25: Connection refused":                               "4.0.0",
	} {
		if got := statusFromReason(in, "4.0.0"); got != want {
			t.Errorf("statusFromReason(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestWants is RFC 3461's NOTIFY table: absent means failure and delay;
// NEVER means nothing; otherwise exactly what is listed.
func TestWants(t *testing.T) {
	for _, tc := range []struct {
		n                       queue.Notify
		failure, delay, success bool
	}{
		{0, true, true, false},
		{queue.NotifyNever, false, false, false},
		{queue.NotifyFailure, true, false, false},
		{queue.NotifyDelay, false, true, false},
		{queue.NotifySuccess, false, false, true},
		{queue.NotifySuccess | queue.NotifyFailure | queue.NotifyDelay, true, true, true},
	} {
		if wants(tc.n, queue.NotifyFailure) != tc.failure || wants(tc.n, queue.NotifyDelay) != tc.delay || wants(tc.n, queue.NotifySuccess) != tc.success {
			t.Errorf("NOTIFY %b: failure %v delay %v success %v", tc.n, wants(tc.n, queue.NotifyFailure), wants(tc.n, queue.NotifyDelay), wants(tc.n, queue.NotifySuccess))
		}
	}
}
