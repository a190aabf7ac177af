package postgres_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/queue/postgres"
)

// nodes opens n Queues on one fresh prefix, each with a pool of its own,
// as n processes would.
func nodes(t *testing.T, n int, opts postgres.Options) []*postgres.Queue {
	t.Helper()
	opts.Prefix = prefix()
	var qs []*postgres.Queue
	for range n {
		p := pool(t)
		q, err := postgres.Open(context.Background(), p, &opts)
		if err != nil {
			t.Fatal(err)
		}
		qs = append(qs, q)
		t.Cleanup(func() {
			q.Close()
			p.Close()
		})
	}
	t.Cleanup(func() {
		p := pool(t)
		defer p.Close()
		drop(p, opts.Prefix)
	})
	return qs
}

// TestWakeupFromAnotherNode: a worker idle in Next on one node gets mail
// stored on another at once, though its poll interval is an hour.
func TestWakeupFromAnotherNode(t *testing.T) {
	qs := nodes(t, 2, postgres.Options{})
	idle := queue.NewScheduler(qs[1], queue.Config{Poll: time.Hour})
	got := make(chan *queue.Delivery, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		d, err := idle.Next(ctx)
		if err != nil {
			t.Error(err)
		}
		got <- d
	}()
	time.Sleep(200 * time.Millisecond) // let it find the queue empty and wait
	e := &queue.Envelope{Sender: "s@example.org", Recipients: []queue.Recipient{{Address: "u@example.com"}}}
	if err := queue.NewScheduler(qs[0], queue.Config{}).Store(ctx, e, bytes.NewReader([]byte("hi"))); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-got:
		if d == nil || d.Envelope.ID != e.ID {
			t.Errorf("woke with %+v, want %s", d, e.ID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the idle node was not woken by a Store on the other")
	}
}

// TestDeadNodeClaimsEnd: the claim of a node that stops renewing (Close,
// as a crash) ends after NodeTTL, not after the claim's 30-minute lease,
// and another node claims the message.
func TestDeadNodeClaimsEnd(t *testing.T) {
	ctx := context.Background()
	qs := nodes(t, 2, postgres.Options{NodeTTL: 600 * time.Millisecond})
	e := &queue.Envelope{Sender: "s@example.org", Recipients: []queue.Recipient{{Address: "u@example.com"}}}
	if err := qs[0].Store(ctx, e, bytes.NewReader([]byte("hi"))); err != nil {
		t.Fatal(err)
	}
	if _, err := qs[0].Claim(ctx, time.Now(), 30*time.Minute, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := qs[1].Claim(ctx, time.Now(), 30*time.Minute, nil); err != queue.ErrEmpty {
		t.Fatalf("claimed while the first node lives: %v", err)
	}
	qs[0].Close()
	start := time.Now()
	for {
		_, err := qs[1].Claim(ctx, time.Now(), 30*time.Minute, nil)
		if err == nil {
			break
		}
		if err != queue.ErrEmpty {
			t.Fatal(err)
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("the dead node's claim did not end")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("claimed again %v after the node stopped", time.Since(start).Round(time.Millisecond))
}

// TestWakeupWhenDue: a worker idle in Next claims a deferred message when
// it becomes due, though its poll interval is an hour.
func TestWakeupWhenDue(t *testing.T) {
	qs := nodes(t, 2, postgres.Options{})
	idle := queue.NewScheduler(qs[1], queue.Config{Poll: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	due := time.Now().Add(400 * time.Millisecond)
	e := &queue.Envelope{Sender: "s@example.org", NextAttempt: due, Recipients: []queue.Recipient{{Address: "u@example.com"}}}
	if err := queue.NewScheduler(qs[0], queue.Config{}).Store(ctx, e, bytes.NewReader([]byte("hi"))); err != nil {
		t.Fatal(err)
	}
	d, err := idle.Next(ctx)
	if err != nil {
		t.Fatalf("not claimed when due: %v", err)
	}
	if late := time.Since(due); d.Envelope.ID != e.ID || late < 0 || late > 2*time.Second {
		t.Errorf("claimed %s %v after it became due", d.Envelope.ID, late)
	}
}
