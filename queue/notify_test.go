package queue_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/queue"
)

// TestNotifyOnce follows the notification protocol of MarkNotified with
// workers that die at each point where relay reported duplicate or lost
// bounces, and checks that the successor is told exactly the recipients
// whose DSN was not yet recorded: over Memory, and over the Spool with the
// process "dying" (spool closed and reopened) at each point.
func TestNotifyOnce(t *testing.T) {
	t.Run("Memory", func(t *testing.T) {
		q := queue.NewMemory()
		notifyOnce(t, func() queue.Queue { return q })
	})
	t.Run("Spool", func(t *testing.T) {
		dir := t.TempDir()
		var sp *queue.Spool
		t.Cleanup(func() { sp.Close() })
		notifyOnce(t, func() queue.Queue { // a restart: the new process reopens the spool
			if sp != nil {
				sp.Close()
			}
			sp = openSpool(t, dir)
			return sp
		})
	})
}

func notifyOnce(t *testing.T, restart func() queue.Queue) {
	ctx := context.Background()
	c := &clock{t: t0}
	cfg := queue.Config{Now: c.Now, Lease: 10 * time.Minute}
	s := queue.NewScheduler(restart(), cfg)
	crash := func() {
		s = queue.NewScheduler(restart(), cfg)
		c.Advance(10 * time.Minute) // any lease of the dead worker has ended
	}
	id := store(t, s, "a@example.org", "u@example.com", "v@example.net", "w@example.net")

	// Attempt 1: u fails, v and w deferred; the worker dies before it
	// queues the bounce.
	d := claim(t, s)
	if u := d.Envelope.Unnotified(); len(u) != 0 {
		t.Fatalf("fresh message: Unnotified %v", u)
	}
	rep := done(t, s, d, []queue.Outcome{{Recipient: 0, State: queue.Failed, Reason: "550 no"},
		{Recipient: 1, State: queue.Deferred, Reason: "451"}, {Recipient: 2, State: queue.Deferred, Reason: "451"}})
	if rep.Final || !slices.Equal(rep.Failed, []int{0}) {
		t.Fatalf("attempt 1: %+v", rep)
	}
	crash()
	c.Advance(time.Hour)

	// The successor must bounce u (it was never marked) ...
	d = claim(t, s)
	if u := d.Envelope.Unnotified(); !slices.Equal(u, []int{0}) {
		t.Fatalf("after a crash before the bounce: Unnotified %v, want [0]", u)
	}
	if err := s.MarkNotified(ctx, d, []int{0}); err != nil {
		t.Fatal(err)
	}
	// ... and mark it: it is not bounced again, whatever happens later.
	// This worker delivers v, fails w, and dies after Done (Final) and
	// after queuing the bounce for w but before marking it.
	rep = done(t, s, d, []queue.Outcome{{Recipient: 1, State: queue.Delivered, Reason: "250 ok"},
		{Recipient: 2, State: queue.Failed, Reason: "550 no"}})
	if !rep.Final || !slices.Equal(rep.Failed, []int{2}) || !slices.Equal(rep.Delivered, []int{1}) {
		t.Fatalf("attempt 2: %+v", rep)
	}
	if u := rep.Envelope.Unnotified(); !slices.Equal(u, []int{1, 2}) {
		t.Errorf("Report.Envelope.Unnotified = %v, want [1 2]", u)
	}
	crash()

	d = claim(t, s)
	if len(d.Attempt) != 0 || !d.Envelope.Final() {
		t.Fatalf("final message reclaimed with Attempt %v", d.Attempt)
	}
	if u := d.Envelope.Unnotified(); !slices.Equal(u, []int{1, 2}) {
		t.Fatalf("after a crash between Done and MarkNotified: Unnotified %v, want [1 2] (u was marked)", u)
	}
	if err := s.MarkNotified(ctx, d, []int{1, 2}); err != nil {
		t.Fatal(err)
	}
	// This worker dies between MarkNotified and Remove: the successor
	// has nothing to notify, only the Remove to finish.
	crash()
	d = claim(t, s)
	if u := d.Envelope.Unnotified(); len(u) != 0 || len(d.Attempt) != 0 {
		t.Fatalf("after a crash between MarkNotified and Remove: Unnotified %v, Attempt %v; want none", u, d.Attempt)
	}
	if got, _ := s.Get(ctx, id); !got.Recipients[0].Notified || !got.Recipients[2].Notified || got.Recipients[2].Reason != "550 no" {
		t.Errorf("marks or reasons not kept: %+v", got.Recipients)
	}
	if err := s.Remove(ctx, d); err != nil {
		t.Fatal(err)
	}
}

// TestMarkNotifiedErrors: only final recipients can be marked; a bad call
// changes nothing; marking twice is harmless; Store clears the mark.
func TestMarkNotifiedErrors(t *testing.T) {
	ctx := context.Background()
	s, _ := newSched(t, queue.Config{})
	id := store(t, s, "a@example.org", "u@example.com", "v@example.com")
	d := claim(t, s)
	done(t, s, d, []queue.Outcome{{Recipient: 0, State: queue.Failed, Reason: "550"}, {Recipient: 1, State: queue.Deferred, Reason: "451"}})
	for _, bad := range [][]int{{0, 1}, {2}, {-1}} {
		if err := s.MarkNotified(ctx, d, bad); err == nil {
			t.Errorf("MarkNotified(%v) accepted a pending or missing recipient", bad)
		}
	}
	if g, _ := s.Get(ctx, id); g.Recipients[0].Notified {
		t.Error("a refused MarkNotified changed the message")
	}
	for range 2 {
		if err := s.MarkNotified(ctx, d, []int{0}); err != nil {
			t.Fatal(err)
		}
	}
	if g, _ := s.Get(ctx, id); !g.Recipients[0].Notified || g.Recipients[1].Notified {
		t.Errorf("marks: %+v", g.Recipients)
	}
	e := &queue.Envelope{Recipients: []queue.Recipient{{Address: "u@example.com", State: queue.Failed, Notified: true}}}
	if err := s.Store(ctx, e, strings.NewReader("")); err != nil {
		t.Fatal(err)
	}
	if g, _ := s.Get(ctx, e.ID); g.Recipients[0].Notified {
		t.Error("Store kept a Notified mark")
	}
}
