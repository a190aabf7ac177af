package queue_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mxrelay/mxrelay/queue"
)

// Finish removes a message whose attempted recipients were all delivered
// with nothing left to notify, and reports what Done would have; any
// other outcome is left to Done, unchanged.
func TestFinish(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		sender   string
		notify   queue.Notify
		state    queue.State
		rcpts    int
		attempt  int // outcomes given
		finishes bool
	}{
		{"all delivered", "s@src.example", 0, queue.Delivered, 2, 2, true},
		{"one deferred", "s@src.example", 0, queue.Deferred, 2, 2, false},
		{"success notification due", "s@src.example", queue.NotifySuccess, queue.Delivered, 1, 1, false},
		{"null sender: no notification", "", queue.NotifySuccess, queue.Delivered, 1, 1, true},
		{"an outcome missing", "s@src.example", 0, queue.Delivered, 2, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newSched(t, queue.Config{})
			e := &queue.Envelope{Sender: tc.sender}
			for i := range tc.rcpts {
				e.Recipients = append(e.Recipients, queue.Recipient{Address: fmt.Sprintf("u%d@example.com", i), Notify: tc.notify})
			}
			if err := s.Store(ctx, e, strings.NewReader("x\r\n")); err != nil {
				t.Fatal(err)
			}
			d := claim(t, s)
			var outs []queue.Outcome
			for i := range tc.attempt {
				outs = append(outs, queue.Outcome{Recipient: i, State: tc.state, Status: "2.0.0", Reason: "250 2.0.0 Ok"})
			}
			rep, ok, err := s.Finish(ctx, d, outs)
			if err != nil || ok != tc.finishes {
				t.Fatalf("Finish: ok %v, err %v; want ok %v", ok, err, tc.finishes)
			}
			_, getErr := s.Get(ctx, e.ID)
			if tc.finishes {
				if !errors.Is(getErr, queue.ErrNotFound) {
					t.Errorf("finished message still queued: %v", getErr)
				}
				if !rep.Final || len(rep.Delivered) != tc.rcpts || rep.Envelope.Recipients[0].State != queue.Delivered || rep.Envelope.Recipients[0].Status != "2.0.0" {
					t.Errorf("report %+v", rep)
				}
				// Its concurrency slot is free: another message to the
				// destination is claimed.
				if err := s.Store(ctx, &queue.Envelope{Recipients: []queue.Recipient{{Address: "v@example.com"}}}, strings.NewReader("x\r\n")); err != nil {
					t.Fatal(err)
				}
				claim(t, s)
				return
			}
			if getErr != nil {
				t.Fatalf("message gone after a refused Finish: %v", getErr)
			}
			if len(outs) == len(d.Attempt) {
				done(t, s, d, outs) // Done still works on the untouched claim
			}
		})
	}
}

// BenchmarkSpoolDeliveredMessage is the queue's bookkeeping for a message
// delivered at the first attempt, on the file spool: store, claim, then
// Done + MarkNotified + Remove (before Finish) or Finish.
func BenchmarkSpoolDeliveredMessage(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 2048)
	for _, finish := range []bool{false, true} {
		b.Run(fmt.Sprintf("finish=%v", finish), func(b *testing.B) {
			sp := openSpool(b, b.TempDir())
			defer sp.Close()
			s := queue.NewScheduler(sp, queue.Config{})
			ctx := context.Background()
			for b.Loop() {
				e := env("u@example.com")
				if err := s.Store(ctx, e, bytes.NewReader(body)); err != nil {
					b.Fatal(err)
				}
				d, err := s.Claim(ctx)
				if err != nil {
					b.Fatal(err)
				}
				outs := []queue.Outcome{{Recipient: 0, State: queue.Delivered, Status: "2.0.0", Reason: "250 ok"}}
				if finish {
					if _, ok, err := s.Finish(ctx, d, outs); !ok || err != nil {
						b.Fatal(ok, err)
					}
					continue
				}
				if _, err := s.Done(ctx, d, outs); err != nil {
					b.Fatal(err)
				}
				if err := s.MarkNotified(ctx, d, []int{0}); err != nil {
					b.Fatal(err)
				}
				if err := s.Remove(ctx, d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
