package metrics

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay"
)

// The counters after known events, and the queue by state and age.
func TestMetricsWrite(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	mem := queue.NewMemory()
	for _, e := range []*queue.Envelope{
		{Sender: "a@x.test", Recipients: []queue.Recipient{{Address: "u@b.test"}}, Arrival: now.Add(-time.Minute)},
		{Sender: "a@x.test", Recipients: []queue.Recipient{{Address: "u@b.test"}}, Arrival: now.Add(-15 * time.Minute), Attempts: 2},
		{Sender: "a@x.test", Recipients: []queue.Recipient{{Address: "u@b.test"}}, Arrival: now.Add(-30 * time.Hour), Attempts: 9},
		{Sender: "a@x.test", Recipients: []queue.Recipient{{Address: "u@b.test"}}, Arrival: now.Add(-time.Hour), Held: true},
	} {
		if err := mem.Store(ctx, e, strings.NewReader("Subject: x\r\n\r\nx\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	m := New(&Options{Queue: mem, Now: func() time.Time { return now }})
	m.SessionEnded(relay.SessionEnd{TLS: true, Accepted: 1})
	m.SessionEnded(relay.SessionEnd{})
	m.Accepted(relay.Accepted{Size: 1000})
	m.Rejected(relay.Rejection{Stage: "RCPT", Code: 554, Status: "5.7.1", Reason: "reject_unauth_destination"})
	m.Rejected(relay.Rejection{Stage: "RCPT", Code: 451, Status: "4.3.0", Reason: "check_recipient_access", Cause: "table"})
	m.Attempted(relay.Attempt{Status: "sent", DSN: "2.0.0", Delay: 300 * time.Millisecond})
	m.Attempted(relay.Attempt{Status: "sent", DSN: "2.0.0", Delay: 2 * time.Hour})
	m.Attempted(relay.Attempt{Status: "deferred", DSN: "4.4.3", Cause: "dns"})
	m.Attempted(relay.Attempt{Status: "bounced", DSN: "5.1.1"})
	var buf bytes.Buffer
	if err := m.Write(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"mxrelay_smtp_sessions_total 2\n",
		"mxrelay_smtp_tls_sessions_total 1\n",
		"mxrelay_messages_accepted_total 1\n",
		"mxrelay_messages_accepted_bytes_total 1000\n",
		`mxrelay_smtp_rejects_total{stage="RCPT",reason="check_recipient_access",class="4xx"} 1` + "\n",
		`mxrelay_smtp_rejects_total{stage="RCPT",reason="reject_unauth_destination",class="5xx"} 1` + "\n",
		`mxrelay_deliveries_total{status="bounced",dsn_class="5"} 1` + "\n",
		`mxrelay_deliveries_total{status="deferred",dsn_class="4"} 1` + "\n",
		`mxrelay_deliveries_total{status="sent",dsn_class="2"} 2` + "\n",
		`mxrelay_lookup_errors_total{kind="dns",where="delivery"} 1` + "\n",
		`mxrelay_lookup_errors_total{kind="table",where="smtpd"} 1` + "\n",
		`mxrelay_delivery_delay_seconds_bucket{le="0.25"} 0` + "\n",
		`mxrelay_delivery_delay_seconds_bucket{le="0.5"} 1` + "\n",
		`mxrelay_delivery_delay_seconds_bucket{le="3600"} 1` + "\n",
		`mxrelay_delivery_delay_seconds_bucket{le="14400"} 2` + "\n",
		`mxrelay_delivery_delay_seconds_bucket{le="+Inf"} 2` + "\n",
		"mxrelay_delivery_delay_seconds_sum 7200.3\n",
		"mxrelay_delivery_delay_seconds_count 2\n",
		"mxrelay_queue_up 1\n",
		`mxrelay_queue_messages{state="incoming",age="5m"} 1` + "\n",
		`mxrelay_queue_messages{state="deferred",age="20m"} 1` + "\n",
		`mxrelay_queue_messages{state="deferred",age="1280m+"} 1` + "\n",
		`mxrelay_queue_messages{state="hold",age="80m"} 1` + "\n",
		`mxrelay_queue_messages{state="active",age="5m"} 0` + "\n",
		`mxrelay_queue_oldest_message_age_seconds{state="deferred"} 108000` + "\n",
		`mxrelay_queue_oldest_message_age_seconds{state="active"} 0` + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

type brokenQueue struct{}

func (brokenQueue) Walk(context.Context, func(*queue.Envelope) error) error {
	return errors.New("EIO")
}

// A queue that cannot be read is reported (mxrelay_queue_up 0), and the
// event counters are still written.
func TestMetricsQueueDown(t *testing.T) {
	m := New(&Options{Queue: brokenQueue{}})
	var buf bytes.Buffer
	if err := m.Write(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); !strings.Contains(out, "mxrelay_queue_up 0\n") || !strings.Contains(out, "mxrelay_smtp_sessions_total 0\n") ||
		strings.Contains(out, "mxrelay_queue_messages{") {
		t.Errorf("output:\n%s", out)
	}
}

// Label values from configuration are escaped as the text format wants.
func TestEscapeLabel(t *testing.T) {
	if got := escapeLabel("a\"b\\c\nd\xff"); got != `a\"b\\c\nd`+"\uFFFD" {
		t.Errorf("got %q", got)
	}
}

// countingQueue counts its walks.
type countingQueue struct {
	walks int
	fail  bool
}

func (q *countingQueue) Walk(context.Context, func(*queue.Envelope) error) error {
	q.walks++
	if q.fail {
		return errors.New("EIO")
	}
	return nil
}

// Scrapes within QueueInterval of a walk reuse it; a failed walk is not
// reused.
func TestMetricsQueueInterval(t *testing.T) {
	now := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	q := &countingQueue{}
	m := New(&Options{Queue: q, Now: func() time.Time { return now }})
	scrape := func() string {
		var buf bytes.Buffer
		if err := m.Write(context.Background(), &buf); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	scrape()
	now = now.Add(5 * time.Second)
	scrape()
	if q.walks != 1 {
		t.Fatalf("%d walks for two scrapes 5s apart, want 1", q.walks)
	}
	now = now.Add(5 * time.Second)
	q.fail = true
	if out := scrape(); !strings.Contains(out, "mxrelay_queue_up 0\n") || q.walks != 2 {
		t.Fatalf("after 10s: %d walks, output:\n%s", q.walks, out)
	}
	q.fail = false
	if out := scrape(); !strings.Contains(out, "mxrelay_queue_up 1\n") || q.walks != 3 {
		t.Fatalf("after a failed walk: %d walks, output:\n%s", q.walks, out)
	}
}
