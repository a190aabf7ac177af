package queue_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mxrelay/mxrelay/queue"
)

// A message that keeps being deferred is retried after 300, 600, 1200 ...
// seconds, as Postfix's minimal_backoff_time and maximal_backoff_time
// imply. The clock is injected.
func ExampleScheduler() {
	ctx := context.Background()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	s := queue.NewScheduler(queue.NewMemory(), queue.Config{Now: func() time.Time { return now }})
	env := &queue.Envelope{Sender: "a@example.org", Recipients: []queue.Recipient{{Address: "b@example.com"}}}
	if err := s.Store(ctx, env, strings.NewReader("Subject: hi\r\n\r\nhello\r\n")); err != nil {
		fmt.Println(err)
		return
	}
	for range 8 {
		d, err := s.Claim(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		rep, err := s.Done(ctx, d, []queue.Outcome{{Recipient: 0, State: queue.Deferred, Reason: "451 4.3.0 try later"}})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("attempt %d at %5.0fs, next at %5.0fs\n", rep.Envelope.Attempts, now.Sub(start).Seconds(), rep.NextAttempt.Sub(start).Seconds())
		now = rep.NextAttempt
	}
	// Output:
	// attempt 1 at     0s, next at   300s
	// attempt 2 at   300s, next at   600s
	// attempt 3 at   600s, next at  1200s
	// attempt 4 at  1200s, next at  2400s
	// attempt 5 at  2400s, next at  4800s
	// attempt 6 at  4800s, next at  8800s
	// attempt 7 at  8800s, next at 12800s
	// attempt 8 at 12800s, next at 16800s
}

// The spool keeps acknowledged mail across a restart.
func ExampleOpenSpool() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "spool")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	sp, err := queue.OpenSpool(ctx, dir, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	env := &queue.Envelope{ID: "MSG1", Sender: "a@example.org", Recipients: []queue.Recipient{{Address: "b@example.com"}}}
	if err := sp.Store(ctx, env, strings.NewReader("Subject: hi\r\n\r\nhello\r\n")); err != nil {
		fmt.Println(err)
		return
	}
	_, err = queue.OpenSpool(ctx, dir, nil)
	fmt.Println("second opener locked out:", err != nil)
	sp.Close()

	sp, err = queue.OpenSpool(ctx, dir, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sp.Close()
	e, err := sp.Get(ctx, "MSG1")
	fmt.Println(e.Recipients[0].Address, e.Size, err)
	// Output:
	// second opener locked out: true
	// b@example.com 22 <nil>
}

// Inspection and control, as mailq, postqueue -s (ETRN) and postsuper -h.
func ExampleScheduler_List() {
	ctx := context.Background()
	s := queue.NewScheduler(queue.NewMemory(), queue.Config{})
	for _, rcpt := range []string{"u@primary.example", "v@other.example"} {
		env := &queue.Envelope{Sender: "a@example.org", Recipients: []queue.Recipient{{Address: rcpt}}}
		if err := s.Store(ctx, env, strings.NewReader("x")); err != nil {
			fmt.Println(err)
			return
		}
	}
	l, _ := s.List(ctx, queue.Filter{Domain: "primary.example"})
	fmt.Println(len(l), l[0].Recipients[0].Address)
	if err := s.Hold(ctx, l[0].ID); err != nil {
		fmt.Println(err)
	}
	held, _ := s.List(ctx, queue.Filter{State: queue.Hold})
	fmt.Println("held:", len(held))
	n, _ := s.Flush(ctx, "other.example")
	fmt.Println("flushed:", n) // not yet tried: already due
	// Output:
	// 1 u@primary.example
	// held: 1
	// flushed: 0
}

// A worker bounces a failed recipient, then records it with MarkNotified;
// it dies before Remove. The worker that takes the message over finds
// nothing left to notify, and only removes it.
func ExampleScheduler_MarkNotified() {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := queue.NewScheduler(queue.NewMemory(), queue.Config{Now: func() time.Time { return now }, Lease: time.Minute})
	env := &queue.Envelope{Sender: "a@example.org", Recipients: []queue.Recipient{{Address: "b@example.com"}, {Address: "c@example.net"}}}
	if err := s.Store(ctx, env, strings.NewReader("Subject: hi\r\n\r\nhello\r\n")); err != nil {
		fmt.Println(err)
		return
	}
	bounce := func(e queue.Envelope, rcpts []int) {
		for _, i := range rcpts {
			if e.Recipients[i].State != queue.Delivered {
				fmt.Printf("DSN to %s: %s %s\n", e.Sender, e.Recipients[i].Address, e.Recipients[i].Reason)
			}
		}
	}
	worker := func(dieBeforeRemove bool) {
		d, err := s.Claim(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		if u := d.Envelope.Unnotified(); len(u) > 0 {
			bounce(d.Envelope, u)
			s.MarkNotified(ctx, d, u)
		}
		var out []queue.Outcome
		for _, i := range d.Attempt {
			st, reason := queue.Delivered, "250 ok"
			if i == 0 {
				st, reason = queue.Failed, "550 5.1.1 no such user"
			}
			out = append(out, queue.Outcome{Recipient: i, State: st, Reason: reason})
		}
		rep, err := s.Done(ctx, d, out)
		if err != nil {
			fmt.Println(err)
			return
		}
		fin := append(append(append([]int(nil), rep.Delivered...), rep.Failed...), rep.Expired...)
		bounce(rep.Envelope, fin)
		s.MarkNotified(ctx, d, fin)
		if dieBeforeRemove {
			fmt.Println("worker dies")
			return
		}
		fmt.Println("removed:", s.Remove(ctx, d) == nil)
	}
	worker(true)
	now = now.Add(time.Minute) // the dead worker's lease ends
	worker(false)
	// Output:
	// DSN to a@example.org: b@example.com 550 5.1.1 no such user
	// worker dies
	// removed: true
}
