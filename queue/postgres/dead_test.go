package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/queue/postgres"
)

// TestDeadMarkShared: a destination one node found dead (a site-level
// deferral) is suspended on the other node too, which defers its mail
// without an attempt; a flush on either node lifts the mark for both.
func TestDeadMarkShared(t *testing.T) {
	ctx := context.Background()
	qs := nodes(t, 2, postgres.Options{})
	a := queue.NewScheduler(qs[0], queue.Config{})
	b := queue.NewScheduler(qs[1], queue.Config{})
	store := func(s *queue.Scheduler) queue.ID {
		e := &queue.Envelope{Sender: "s@example.org", Recipients: []queue.Recipient{{Address: "u@dead.example"}}}
		if err := s.Store(ctx, e, bytes.NewReader([]byte("hi"))); err != nil {
			t.Fatal(err)
		}
		return e.ID
	}
	store(a)
	d, err := a.Claim(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Done(ctx, d, []queue.Outcome{{Recipient: 0, State: queue.Deferred, Reason: "421 4.3.2 closing", Status: "4.3.2", Site: true}}); err != nil {
		t.Fatal(err)
	}
	id := store(b)
	var suspended []queue.Report
	b2 := queue.NewScheduler(qs[1], queue.Config{Suspended: func(r queue.Report) { suspended = append(suspended, r) }})
	if _, err := b2.Claim(ctx); !errors.Is(err, queue.ErrEmpty) {
		t.Fatalf("node b handed out mail for a destination node a found dead: %v", err)
	}
	if len(suspended) != 1 || suspended[0].Envelope.ID != id || !strings.Contains(suspended[0].Envelope.Recipients[0].Reason, "delivery temporarily suspended: 421 4.3.2 closing") {
		t.Fatalf("node b's deferral without attempt: %+v", suspended)
	}
	if reason, ok := b2.Suspended("dead.example"); !ok || reason != "421 4.3.2 closing" {
		t.Errorf("node b: Suspended = %q, %v", reason, ok)
	}
	if _, err := b2.Flush(ctx, ""); err != nil {
		t.Fatal(err)
	}
	// Node a, which holds the mark, reads the cluster's at its next claim.
	d, err = a.Claim(ctx)
	if err != nil || len(d.Attempt) != 1 {
		t.Fatalf("node a after the flush on node b: %+v, %v", d, err)
	}
}
