package maillog

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"unicode/utf8"
)

// FuzzHandler: whatever text peers put in an event's fields, every
// record is written as whole lines, each with the prefix, no control
// character but the final newline, valid UTF-8, and bounded length.
func FuzzHandler(f *testing.F) {
	f.Add(Reject, "RCPT", "a@b\r\nDec 07 x", "helo\x00", "<id>")
	f.Add(MessageID, "", "", "", "\xff\xfe<id\n>")
	f.Add(Queued, "ABC", "", "", "")
	f.Add(Delivery, "deferred", "u@b.test", "", "")
	f.Add("other\n", "x", "y", "z", "w")
	f.Fuzz(func(t *testing.T, msg, a, b, c, d string) {
		var buf bytes.Buffer
		h := NewHandler(&buf, &Options{Hostname: "mx2", PID: 1})
		r := slog.NewRecord(stamp, slog.LevelInfo, msg, 0)
		r.Add(KeyQueueID, a, KeyClient, b, KeyStage, a, KeyReply, c, KeyFrom, b, KeyTo, c, KeyHelo, d,
			KeyMessageID, d, KeyRelay, c, KeyStatus, a, KeyReason, d, KeyTransport, b, KeyKind, a, KeyNotificationID, c, KeyAfter, d, d, a)
		if err := h.Handle(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		out := buf.Bytes()
		if (msg == Queued || msg == Delivery && a == "expired") && a != "" && len(out) == 0 {
			return // Queued and an expired recipient have no line
		}
		if len(out) == 0 || out[len(out)-1] != '\n' {
			t.Fatalf("no final newline: %q", out)
		}
		for _, line := range bytes.Split(out[:len(out)-1], []byte("\n")) {
			if !bytes.HasPrefix(line, []byte("Dec  7 01:02:03 mx2 postfix/")) {
				t.Fatalf("line without the prefix: %q", line)
			}
			if !utf8.Valid(line) {
				t.Fatalf("invalid UTF-8: %q", line)
			}
			for _, ch := range line {
				if ch < 0x20 || ch == 0x7f {
					t.Fatalf("control character %#x in %q", ch, line)
				}
			}
			if len(line) > 20*maxField {
				t.Fatalf("%d-byte line", len(line))
			}
		}
	})
}
