package queue_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/queue"
)

var benchSizes = []struct {
	name string
	n    int
}{{"4KiB", 4 << 10}, {"1MiB", 1 << 20}}

// BenchmarkSpoolStore measures durable stores per second with 1, 16 and
// 64 concurrent writers (group commit shares directory fsyncs; the file
// system batches the data-file fsyncs).
func BenchmarkSpoolStore(b *testing.B) {
	for _, sz := range benchSizes {
		body := bytes.Repeat([]byte("x"), sz.n)
		for _, writers := range []int{1, 16, 64} {
			b.Run(fmt.Sprintf("body=%s/writers=%d", sz.name, writers), func(b *testing.B) {
				s := openSpool(b, b.TempDir())
				defer s.Close()
				ctx := context.Background()
				var next atomic.Int64
				b.SetBytes(int64(sz.n))
				b.ResetTimer()
				var wg sync.WaitGroup
				for range writers {
					wg.Go(func() {
						for next.Add(1) <= int64(b.N) {
							e := env("u@example.com")
							if err := s.Store(ctx, e, bytes.NewReader(body)); err != nil {
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
}

// BenchmarkDiskWriteFsync is the disk's own limit for the same sizes: a new
// file written and fsynced per iteration, one writer.
func BenchmarkDiskWriteFsync(b *testing.B) {
	for _, sz := range benchSizes {
		body := bytes.Repeat([]byte("x"), sz.n)
		b.Run("body="+sz.name, func(b *testing.B) {
			dir := b.TempDir()
			b.SetBytes(int64(sz.n))
			for i := 0; b.Loop(); i++ {
				f, err := os.Create(filepath.Join(dir, fmt.Sprint(i)))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := f.Write(body); err != nil {
					b.Fatal(err)
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
		})
	}
}

// BenchmarkScheduler1M: a scheduler over the Memory backend holding
// 1,000,000 deferred messages, all due; one op is a Claim and a Done that
// defers the message again. Reports heap bytes per queued message
// (envelope, body, schedule) and the latency of Claim alone.
func BenchmarkScheduler1M(b *testing.B) {
	const n = 1_000_000
	ctx := context.Background()
	c := &clock{t: t0}
	s := queue.NewScheduler(queue.NewMemory(), queue.Config{Now: c.Now, Lease: time.Minute, Concurrency: 1 << 30})
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	body := []byte("Subject: x\r\n\r\nhi\r\n")
	for i := range n {
		e := &queue.Envelope{Sender: "sender@example.org", Recipients: []queue.Recipient{{Address: fmt.Sprintf("user%d@dest%d.example", i, i%1000)}},
			Arrival: t0, NextAttempt: t0.Add(time.Duration(i%3600) * time.Second)}
		if err := s.Store(ctx, e, bytes.NewReader(body)); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	c.Set(t0.Add(time.Hour))
	var claimTime time.Duration
	for b.Loop() {
		st := time.Now()
		d, err := s.Claim(ctx)
		claimTime += time.Since(st)
		if err != nil {
			b.Fatal(err)
		}
		// Deferred again: the message goes back into the schedule.
		if _, err := s.Done(ctx, d, []queue.Outcome{{Recipient: 0, State: queue.Deferred, Reason: "451 later"}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(claimTime.Nanoseconds())/float64(b.N), "claim-ns")
	b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/n, "heap-B/msg")
	runtime.KeepAlive(s)
}

// BenchmarkSpoolClaimBlocked: 1,000 due messages for one destination at
// its concurrency limit, and one message for another destination at the
// end of the due order: each Claim reads the envelopes it must refuse.
func BenchmarkSpoolClaimBlocked(b *testing.B) {
	ctx := context.Background()
	c := &clock{t: t0}
	sp := openSpool(b, b.TempDir())
	defer sp.Close()
	s := queue.NewScheduler(sp, queue.Config{Now: c.Now, Concurrency: 1, Lease: 1000 * time.Hour})
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 16 {
		wg.Go(func() {
			for next.Add(1) <= 1000 {
				e := &queue.Envelope{Sender: "s@example.org", Recipients: []queue.Recipient{{Address: "u@busy.example"}}, Arrival: t0}
				if err := s.Store(ctx, e, bytes.NewReader([]byte("x"))); err != nil {
					b.Error(err)
				}
			}
		})
	}
	wg.Wait()
	c.Advance(time.Second)
	if err := s.Store(ctx, &queue.Envelope{Recipients: []queue.Recipient{{Address: "v@free.example"}}}, bytes.NewReader(nil)); err != nil {
		b.Fatal(err)
	}
	c.Advance(time.Second)
	if _, err := s.Claim(ctx); err != nil { // busy.example now at its limit
		b.Fatal(err)
	}
	var claimTime time.Duration
	for b.Loop() {
		st := time.Now()
		d, err := s.Claim(ctx)
		claimTime += time.Since(st)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Done(ctx, d, nil); err != nil {
			b.Fatal(err)
		}
		c.Advance(2 * time.Hour) // free.example's message is due again
	}
	b.ReportMetric(float64(claimTime.Nanoseconds())/float64(b.N), "claim-ns")
}
