package queue_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/queue"
)

// A Scheduler not made by NewScheduler returns ErrNoScheduler from every
// method that returns an error, and answers the others with the defaults,
// instead of panicking on a nil pointer.
func TestZeroScheduler(t *testing.T) {
	ctx := context.Background()
	var nilSched *queue.Scheduler
	for name, s := range map[string]*queue.Scheduler{"zero": {}, "nil": nilSched} {
		env := &queue.Envelope{Sender: "a@example.test", Recipients: []queue.Recipient{{Address: "b@example.test"}}}
		errs := map[string]error{
			"Store":        s.Store(ctx, env, strings.NewReader("x")),
			"Renew":        s.Renew(ctx, nil),
			"Remove":       s.Remove(ctx, nil),
			"Hold":         s.Hold(ctx, "x"),
			"Release":      s.Release(ctx, "x"),
			"Delete":       s.Delete(ctx, "x"),
			"MarkNotified": s.MarkNotified(ctx, nil, nil),
		}
		_, errs["Next"] = s.Next(ctx)
		_, errs["Claim"] = s.Claim(ctx)
		_, errs["List"] = s.List(ctx, queue.Filter{})
		_, errs["Get"] = s.Get(ctx, "x")
		_, errs["Body"] = s.Body(ctx, "x")
		_, errs["Flush"] = s.Flush(ctx, "example.test")
		_, errs["Done"] = s.Done(ctx, nil, nil)
		for m, err := range errs {
			if !errors.Is(err, queue.ErrNoScheduler) {
				t.Errorf("%s Scheduler: %s = %v, want ErrNoScheduler", name, m, err)
			}
		}
		if s.Queue() != nil {
			t.Errorf("%s Scheduler: Queue() = %v", name, s.Queue())
		}
		if _, ok := s.Suspended("example.test"); ok {
			t.Errorf("%s Scheduler: Suspended", name)
		}
		def := queue.NewScheduler(queue.NewMemory(), queue.Config{})
		if got, want := s.Backoff(time.Hour), def.Backoff(time.Hour); got != want {
			t.Errorf("%s Scheduler: Backoff(1h) = %v, want the default's %v", name, got, want)
		}
		if got, want := s.Lifetimes("b@example.test"), def.Lifetimes("b@example.test"); got != want {
			t.Errorf("%s Scheduler: Lifetimes = %+v, want the defaults %+v", name, got, want)
		}
	}
}
