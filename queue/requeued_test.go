package queue_test

import (
	"context"
	"testing"

	"github.com/mxrelay/mxrelay/queue"
)

// TestRequeuedHook: Config.Requeued edits the envelope of a message that
// Requeue (postsuper -r) makes due, and of no other: Kick and Release
// leave it as it is.
func TestRequeuedHook(t *testing.T) {
	ctx := context.Background()
	calls := 0
	s, _ := newSched(t, queue.Config{Requeued: func(e *queue.Envelope) {
		calls++
		e.Filter = "smtp-amavis:[127.0.0.1]:10024"
		e.Recipients[0].Destination = "smtp-amavis:[127.0.0.1]:10024"
	}})
	id := storeDest(t, s, "u@example.test", "smtp:example.test")
	if err := s.Kick(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx, id); err != nil {
		t.Fatal(err)
	}
	if calls != 0 {
		t.Fatalf("Requeued called %d times by Kick and Release", calls)
	}
	if err := s.Requeue(ctx, id); err != nil {
		t.Fatal(err)
	}
	e, err := s.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 || e.Filter != "smtp-amavis:[127.0.0.1]:10024" || e.Recipients[0].Destination != "smtp-amavis:[127.0.0.1]:10024" {
		t.Errorf("after Requeue: %d calls, %+v", calls, e)
	}
}
