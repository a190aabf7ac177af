package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/queue/postgres"
	"github.com/mxrelay/mxrelay/queue/postgres/internal/pgtest"
)

// claimerEnv makes the test binary a claiming process (see claimer).
const claimerEnv = "MXQ_TEST_CLAIMER"

func TestMain(m *testing.M) {
	if pre := os.Getenv(claimerEnv); pre != "" {
		if err := claimer(pre); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Contention parameters: each claiming process runs claimWorkers
// Schedulers' workers with a concurrency limit of claimLimit per
// destination.
const (
	claimWorkers = 8
	claimLimit   = 2
)

// claimer is one process of TestContention: claimWorkers workers claim
// from the queue of prefix pre until it is empty. Each records what it
// holds in the test's tables, where the database itself catches a
// message held twice (a primary key) and a destination over its limit
// (a counter), and then finishes the message.
func claimer(pre string) error {
	ctx := context.Background()
	dsn := os.Getenv("MXRELAY_TEST_POSTGRES")
	qp, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return err
	}
	defer qp.Close()
	// The test's own records need no flush to disk: they must not be what
	// is measured.
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return err
	}
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer p.Close()
	q, err := postgres.Open(ctx, qp, &postgres.Options{Prefix: pre})
	if err != nil {
		return err
	}
	defer q.Close()
	s := queue.NewScheduler(q, queue.Config{Concurrency: claimLimit})
	// The workers wait in Next as a relay's do; they stop when the queue
	// is empty.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			var left int
			if err := p.QueryRow(ctx, "SELECT count(*) FROM "+pre+"messages").Scan(&left); err == nil && left == 0 {
				cancel()
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, claimWorkers)
	for range claimWorkers {
		wg.Go(func() {
			if err := claimLoop(ctx, p, s, pre); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func claimLoop(ctx context.Context, p *pgxpool.Pool, s *queue.Scheduler, pre string) error {
	bg := context.Background() // the records outlive ctx
	for {
		d, err := s.Next(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		id, dest := string(d.Envelope.ID), queue.Domain(d.Envelope.Recipients[0].Address)
		if _, err := p.Exec(bg, "INSERT INTO "+pre+"held (id, pid) VALUES ($1, $2)", id, os.Getpid()); err != nil {
			return fmt.Errorf("holding %s: %w", id, err) // held by another worker now
		}
		var n int
		if err := p.QueryRow(bg, `INSERT INTO `+pre+`active (dest, n, peak) VALUES ($1, 1, 1)
			ON CONFLICT (dest) DO UPDATE SET n = `+pre+`active.n + 1, peak = greatest(`+pre+`active.peak, `+pre+`active.n + 1)
			RETURNING n`, dest).Scan(&n); err != nil {
			return err
		}
		if _, err := p.Exec(bg, "UPDATE "+pre+"active SET n = n - 1 WHERE dest = $1", dest); err != nil {
			return err
		}
		if _, err := p.Exec(bg, "DELETE FROM "+pre+"held WHERE id = $1", id); err != nil {
			return err
		}
		if _, err := s.Done(bg, d, []queue.Outcome{{Recipient: 0, State: queue.Delivered, Reason: "250 ok"}}); err != nil {
			return err
		}
		if err := s.Remove(bg, d); err != nil {
			return err
		}
		if _, err := p.Exec(bg, "INSERT INTO "+pre+"done (id) VALUES ($1)", id); err != nil {
			return fmt.Errorf("%s finished twice: %w", id, err)
		}
	}
}

// TestContention: three processes of eight workers each claim 10,000 due
// messages for five destinations limited to two deliveries each: no
// message is held by two workers at once, none is finished twice, all
// are finished, and no destination ever has more than two deliveries in
// progress across the three processes.
func TestContention(t *testing.T) {
	ctx := context.Background()
	n := 10000
	if testing.Short() || raceEnabled {
		n = 1000
	}
	if v, err := strconv.Atoi(os.Getenv("MXQ_TEST_CONTENTION_N")); err == nil {
		n = v
	}
	pre := pgtest.Prefix(t)
	p := pool(t)
	defer p.Close()
	q, err := postgres.Open(ctx, p, &postgres.Options{Prefix: pre})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := p.Exec(ctx, strings.ReplaceAll(`CREATE TABLE P_held (id text PRIMARY KEY, pid int);
		CREATE TABLE P_active (dest text PRIMARY KEY, n int, peak int);
		CREATE TABLE P_done (id text PRIMARY KEY)`, "P_", pre)); err != nil {
		t.Fatal(err)
	}
	storeN(t, q, n, 5)
	var cmds []*exec.Cmd
	for range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), claimerEnv+"="+pre)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("claimer %d:\n%s", cmd.Process.Pid, out.String())
			}
		})
		cmds = append(cmds, cmd)
	}
	start := time.Now()
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("claimer %d: %v", cmd.Process.Pid, err)
		}
	}
	var done, peak int
	if err := p.QueryRow(ctx, "SELECT (SELECT count(*) FROM "+pre+"done), (SELECT coalesce(max(peak), 0) FROM "+pre+"active)").Scan(&done, &peak); err != nil {
		t.Fatal(err)
	}
	if done != n {
		t.Errorf("%d messages finished, want %d", done, n)
	}
	if peak > claimLimit {
		t.Errorf("a destination had %d deliveries at once across the processes, limit %d", peak, claimLimit)
	}
	t.Logf("%d messages claimed and finished by 3x%d workers in %v; peak per destination %d", n, claimWorkers, time.Since(start).Round(time.Millisecond), peak)
}

// storeN stores n due messages, for dests destinations, from 16 writers.
func storeN(t testing.TB, q queue.Queue, n, dests int) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	next := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range next {
				e := &queue.Envelope{Sender: "s@example.org", Arrival: time.Now(), NextAttempt: time.Now(),
					Recipients: []queue.Recipient{{Address: fmt.Sprintf("u%d@d%d.example", i, i%dests)}}}
				if err := q.Store(ctx, e, strings.NewReader("body")); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// BenchmarkClaim measures Scheduler.Claim on the shared queue (the lease
// and the destination's slot in one transaction) from 1 and 8 workers of
// one node and from 3 nodes of 8 workers, over b.N due messages for 100
// destinations stored beforehand.
func BenchmarkClaim(b *testing.B) {
	for _, c := range []struct{ nodes, workers int }{{1, 1}, {1, 8}, {3, 8}} {
		b.Run(fmt.Sprintf("nodes=%d/workers=%d", c.nodes, c.workers), func(b *testing.B) {
			ctx := context.Background()
			pre := pgtest.Prefix(b)
			var scheds []*queue.Scheduler
			for range c.nodes {
				p, err := pgxpool.New(ctx, pgtest.DSN(b))
				if err != nil {
					b.Fatal(err)
				}
				q, err := postgres.Open(ctx, p, &postgres.Options{Prefix: pre})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { q.Close(); p.Close() })
				scheds = append(scheds, queue.NewScheduler(q, queue.Config{}))
			}
			storeN(b, scheds[0].Queue(), b.N, 100)
			var claimed atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for i := range c.nodes * c.workers {
				s := scheds[i%c.nodes]
				wg.Go(func() {
					for claimed.Load() < int64(b.N) {
						if _, err := s.Claim(ctx); err == nil {
							claimed.Add(1)
						} else if !errors.Is(err, queue.ErrEmpty) {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "claims/s")
		})
	}
}
