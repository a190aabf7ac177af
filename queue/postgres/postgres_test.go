package postgres_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/queue/postgres"
	"github.com/mxrelay/mxrelay/queue/queuetest"
)

// dsn returns the test database: MXRELAY_TEST_POSTGRES, e.g.
// "postgres://mxq@127.0.0.1:55432/postgres". Without it the tests skip,
// unless CI is set: then they fail.
func dsn(t *testing.T) string {
	t.Helper()
	d := os.Getenv("MXRELAY_TEST_POSTGRES")
	if d == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("MXRELAY_TEST_POSTGRES is not set: CI must start PostgreSQL and set it")
		}
		t.Skip("MXRELAY_TEST_POSTGRES not set")
	}
	return d
}

func pool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), dsn(t))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func prefix() string {
	var b [6]byte
	rand.Read(b[:])
	return "t" + hex.EncodeToString(b[:]) + "_"
}

func TestConformance(t *testing.T) {
	dsn(t)
	queuetest.Run(t, queuetest.Options{
		New: func(t *testing.T) queue.Queue {
			p := pool(t)
			pre := prefix()
			q, err := postgres.Open(context.Background(), p, &postgres.Options{Prefix: pre})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_, err := p.Exec(context.Background(), "DROP TABLE "+pre+"messages, "+pre+"bodies; DROP SEQUENCE "+pre+"lease_seq")
				if err != nil {
					t.Error(err)
				}
				p.Close()
			})
			queues[q] = pre
			return q
		},
		Reopen: func(t *testing.T, q queue.Queue) queue.Queue {
			pre := queues[q.(*postgres.Queue)]
			p := pool(t) // a new connection pool, as after a restart
			t.Cleanup(p.Close)
			q2, err := postgres.Open(context.Background(), p, &postgres.Options{Prefix: pre})
			if err != nil {
				t.Fatal(err)
			}
			queues[q2] = pre
			return q2
		},
		LeasesPersist: true,
	})
}

var queues = map[*postgres.Queue]string{}

// BenchmarkStore measures durable stores per second (4 KiB bodies) with
// 1, 16 and 64 concurrent writers; PostgreSQL's WAL group commit shares
// flushes between concurrent transactions.
func BenchmarkStore(b *testing.B) {
	for _, writers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			d := os.Getenv("MXRELAY_TEST_POSTGRES")
			if d == "" {
				b.Skip("MXRELAY_TEST_POSTGRES not set")
			}
			cfg, err := pgxpool.ParseConfig(d)
			if err != nil {
				b.Fatal(err)
			}
			cfg.MaxConns = int32(writers)
			p, err := pgxpool.NewWithConfig(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			pre := prefix()
			q, err := postgres.Open(context.Background(), p, &postgres.Options{Prefix: pre})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Exec(context.Background(), "DROP TABLE "+pre+"messages, "+pre+"bodies; DROP SEQUENCE "+pre+"lease_seq")
			body := bytes.Repeat([]byte("x"), 4096)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for range writers {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						e := &queue.Envelope{Recipients: []queue.Recipient{{Address: "u@example.com"}}}
						if err := q.Store(context.Background(), e, bytes.NewReader(body)); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "stores/s")
		})
	}
}

// TestSchedulersShareQueue: two processes (two pools, two Schedulers)
// deliver from one queue: every message is delivered exactly once.
func TestSchedulersShareQueue(t *testing.T) {
	ctx := context.Background()
	pre := prefix()
	var scheds []*queue.Scheduler
	for range 2 {
		p := pool(t)
		t.Cleanup(p.Close)
		q, err := postgres.Open(ctx, p, &postgres.Options{Prefix: pre})
		if err != nil {
			t.Fatal(err)
		}
		scheds = append(scheds, queue.NewScheduler(q, queue.Config{}))
	}
	t.Cleanup(func() {
		p := pool(t)
		defer p.Close()
		p.Exec(ctx, "DROP TABLE "+pre+"messages, "+pre+"bodies; DROP SEQUENCE "+pre+"lease_seq")
	})
	const n = 200
	for i := range n {
		e := &queue.Envelope{Sender: "s@example.org", Recipients: []queue.Recipient{{Address: fmt.Sprintf("u%d@d%d.example", i, i%5)}}}
		if err := scheds[i%2].Store(ctx, e, bytes.NewReader([]byte("body"))); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	delivered := map[queue.ID]int{}
	var wg sync.WaitGroup
	for w := range 8 {
		s := scheds[w%2]
		wg.Go(func() {
			for {
				d, err := s.Claim(ctx)
				if errors.Is(err, queue.ErrEmpty) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				delivered[d.Envelope.ID]++
				mu.Unlock()
				rep, err := s.Done(ctx, d, []queue.Outcome{{Recipient: 0, State: queue.Delivered, Reason: "250 ok"}})
				if err != nil || !rep.Final {
					t.Errorf("Done: %v %+v", err, rep)
					return
				}
				if err := s.Remove(ctx, d); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if len(delivered) != n {
		t.Errorf("%d messages delivered, want %d", len(delivered), n)
	}
	for id, k := range delivered {
		if k != 1 {
			t.Errorf("%s delivered %d times", id, k)
		}
	}
	if l, err := scheds[0].List(ctx, queue.Filter{}); err != nil || len(l) != 0 {
		t.Errorf("left in the queue: %d (%v)", len(l), err)
	}
}
