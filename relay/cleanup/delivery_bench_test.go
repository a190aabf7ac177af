package cleanup

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxrelay/mxrelay/lookup"
)

// BenchmarkCheckDelivery is what a delivery pays for
// smtp_header_checks (three regexp: rules, one of which removes a
// Received: field, as privacy setups do) and smtp_body_checks (one rule
// that matches nothing) on a 2 KiB message.
func BenchmarkCheckDelivery(b *testing.B) {
	ctx := context.Background()
	headers := regexpTable(b, "/^Received: from .* with ESMTPSA/ IGNORE\n/^X-Mailer:/ STRIP\n/^Subject: .*viagra/ WARN\n")
	bodies := regexpTable(b, "/^forbidden phrase/ REPLACE allowed phrase\n")
	cl, err := New(Config{SMTPChecks: DeliveryChecks{HeaderChecks: []lookup.Table{headers}, BodyChecks: []lookup.Table{bodies}}})
	if err != nil {
		b.Fatal(err)
	}
	msg := []byte("Received: from laptop (laptop [192.0.2.7]) by submit.example with ESMTPSA id 1\r\n" +
		"From: a@example.org\r\nTo: b@example.net\r\nSubject: hello\r\nX-Mailer: m 1.0\r\nMessage-ID: <1@example.org>\r\n\r\n" +
		strings.Repeat("a line of text in the body of the message, 72 bytes long or so ....\r\n", 28))
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cl.CheckDelivery(ctx, Message{QueueID: "Q", Transport: "smtp"}, false, msg); err != nil {
			b.Fatal(err)
		}
	}
}

// regexpTable writes rules to a regexp: table file and opens it.
func regexpTable(b *testing.B, rules string) lookup.Table {
	b.Helper()
	path := filepath.Join(b.TempDir(), "checks")
	if err := os.WriteFile(path, []byte(rules), 0o644); err != nil {
		b.Fatal(err)
	}
	t, err := lookup.Open(context.Background(), "regexp:"+path, nil)
	if err != nil {
		b.Fatal(err)
	}
	return t
}
