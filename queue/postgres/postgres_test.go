package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/queue/postgres"
	"github.com/mxrelay/mxrelay/queue/postgres/internal/pgtest"
	"github.com/mxrelay/mxrelay/queue/queuetest"
)

// dsn returns the test database (pgtest.DSN).
func dsn(t testing.TB) string { return pgtest.DSN(t) }

func pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), dsn(t))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func prefix() string { return pgtest.NewPrefix() }

func drop(p *pgxpool.Pool, pre string) error { return pgtest.Drop(p, pre) }

func TestConformance(t *testing.T) {
	dsn(t)
	queuetest.Run(t, queuetest.Options{
		New: func(t *testing.T) queue.Queue {
			q, pre := openPrefix(t)
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
			t.Cleanup(func() { q2.Close() })
			queues[q2] = pre
			return q2
		},
		LeasesPersist: true,
		Streaming:     true,
	})
}

var queues = map[*postgres.Queue]string{}

// TestOldRowReadable: a row written before queue.Recipient.Destination
// existed (its envelope record has no "dest") is read, claimed and
// updated; a destination recorded later is kept.
func TestOldRowReadable(t *testing.T) {
	ctx := context.Background()
	p := pool(t)
	t.Cleanup(p.Close)
	pre := prefix()
	q, err := postgres.Open(ctx, p, &postgres.Options{Prefix: pre})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		drop(p, pre)
	})
	js := `{"id":"OLDROW","sender":"s@example.org","rcpts":[{"addr":"u@example.com","notify":12}],"size":4,"arrival":1767323045000000006}`
	rec := fmt.Appendf(nil, "MXQ1 %08x %d\n%s\n", crc32.Checksum([]byte(js), crc32.MakeTable(crc32.Castagnoli)), len(js), js)
	if _, err := p.Exec(ctx, "INSERT INTO "+pre+"messages (id, env, size, arrival, next_at, held) VALUES ('OLDROW', $1, 4, 1767323045000000006, 1767323045000000006, false)", rec); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Exec(ctx, "INSERT INTO "+pre+"bodies (id, seq, data) VALUES ('OLDROW', 0, 'body'::bytea)"); err != nil {
		t.Fatal(err)
	}
	e, err := q.Get(ctx, "OLDROW")
	if err != nil {
		t.Fatalf("Get of an old row: %v", err)
	}
	if len(e.Recipients) != 1 || e.Recipients[0].Address != "u@example.com" || e.Recipients[0].Destination != "" ||
		e.Recipients[0].Notify != queue.NotifyFailure|queue.NotifyDelay {
		t.Errorf("old row read as %+v", e)
	}
	rc, err := q.Body(ctx, "OLDROW")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(rc); err != nil || string(b) != "body" {
		t.Errorf("old row's body %q, %v", b, err)
	}
	rc.Close()
	s := queue.NewScheduler(q, queue.Config{})
	d, err := s.Claim(ctx)
	if err != nil || d.Envelope.ID != "OLDROW" {
		t.Fatalf("Claim of an old row: %v", err)
	}
	if _, err := s.Done(ctx, d, []queue.Outcome{{Recipient: 0, State: queue.Deferred, Reason: "451 later", Site: true}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Suspended("example.com"); !ok {
		t.Error("an old row without a destination did not count against its domain")
	}
	if err := q.Modify(ctx, "OLDROW", func(e *queue.Envelope) error {
		e.Recipients[0].Destination = "relay:[mx.example.com]"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if e, err := q.Get(ctx, "OLDROW"); err != nil || e.Recipients[0].Destination != "relay:[mx.example.com]" || e.Recipients[0].Reason != "451 later" {
		t.Errorf("after recording a destination: %+v, %v", e.Recipients, err)
	}
}

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
			defer drop(p, pre)
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

// BenchmarkBigBody measures the Store of a 16 MiB body, streamed to
// the database in 1 MiB chunks: its time and what it allocates.
func BenchmarkBigBody(b *testing.B) {
	pre := prefix()
	q, err := postgres.Connect(context.Background(), dsn(b), &postgres.Options{Prefix: pre})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	defer func() {
		p := pool(b)
		defer p.Close()
		drop(p, pre)
	}()
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<20)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		e := &queue.Envelope{Recipients: []queue.Recipient{{Address: "u@example.com"}}}
		if err := q.Store(context.Background(), e, bytes.NewReader(body)); err != nil {
			b.Fatal(err)
		}
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
		drop(p, pre)
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

// open returns a queue on a fresh prefix, removed after the test.
func open(t *testing.T) *postgres.Queue {
	t.Helper()
	q, _ := openPrefix(t)
	return q
}

// openPrefix is open that also returns the prefix.
func openPrefix(t *testing.T) (*postgres.Queue, string) {
	t.Helper()
	p := pool(t)
	pre := prefix()
	q, err := postgres.Open(context.Background(), p, &postgres.Options{Prefix: pre})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		q.Close()
		if err := drop(p, pre); err != nil {
			t.Error(err)
		}
		p.Close()
	})
	return q, pre
}

// checkBody fails t unless message id's body is want.
func checkBody(t *testing.T, q queue.Queue, id queue.ID, want string) {
	t.Helper()
	rc, err := q.Body(context.Background(), id)
	if err != nil {
		t.Errorf("Body of %s: %v", id, err)
		return
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil || string(b) != want {
		t.Errorf("body of %s = %q, %v; want %q", id, b, err, want)
	}
}
