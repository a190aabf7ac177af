package queue_test

import (
	"context"
	"strings"
	"testing"

	"github.com/mxrelay/mxrelay/queue"
)

// An outcome's enhanced status code is recorded apart from its reason,
// survives the envelope record, follows a suspended destination's
// deferrals, and must be a valid RFC 3463 code.
func TestOutcomeStatusRecorded(t *testing.T) {
	ctx := context.Background()
	s, c := newSched(t, queue.Config{})
	a := storeDest(t, s, "u@a.example", "relay:[mx.example]")
	c.Advance(1)
	b := storeDest(t, s, "v@b.example", "relay:[mx.example]")
	d := claim(t, s)
	if d.Envelope.ID != a {
		t.Fatal("due order")
	}
	done(t, s, d, []queue.Outcome{{Recipient: 0, State: queue.Deferred, Site: true, Status: "4.4.1",
		Reason: "connect to mx.example[192.0.2.1]:25: Connection refused"}})
	ea, _ := s.Get(ctx, a)
	if r := ea.Recipients[0]; r.Status != "4.4.1" || r.Reason != "connect to mx.example[192.0.2.1]:25: Connection refused" {
		t.Errorf("recorded %+v", r)
	}
	rec, err := queue.EncodeEnvelope(&ea)
	if err != nil {
		t.Fatal(err)
	}
	back, err := queue.DecodeEnvelope(rec)
	if err != nil || back.Recipients[0].Status != "4.4.1" {
		t.Fatalf("record round trip: %v %+v", err, back.Recipients)
	}
	ea.Recipients[0].Status = "9.9.9"
	if _, err := queue.EncodeEnvelope(&ea); err == nil || !strings.Contains(err.Error(), "RFC 3463") {
		t.Errorf("an envelope with status 9.9.9 encoded: %v", err)
	}
	// b's destination is suspended: deferred on the spot with a's status.
	s.Claim(ctx) //nolint:errcheck // nothing is due after b's deferral
	eb, _ := s.Get(ctx, b)
	if r := eb.Recipients[0]; r.Status != "4.4.1" || !strings.HasPrefix(r.Reason, "delivery temporarily suspended: connect to") {
		t.Errorf("suspended recipient recorded %+v", r)
	}
	c.Advance(1)
	storeDest(t, s, "w@c.example", "smtp:c.example")
	d = claim(t, s)
	if _, err := s.Done(ctx, d, []queue.Outcome{{Recipient: 0, State: queue.Deferred, Status: "4.4.1x", Reason: "x"}}); err == nil {
		t.Fatal("an invalid status was recorded")
	}
}
