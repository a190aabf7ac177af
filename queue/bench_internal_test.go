package queue

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// BenchmarkSpoolOpen100k measures the startup scan of a spool holding
// 100,000 messages (page cache warm), and the heap the schedule takes per
// message. The files are written directly, without fsync, to save time.
func BenchmarkSpoolOpen100k(b *testing.B) {
	const n = 100_000
	dir := b.TempDir()
	for _, d := range []string{"tmp", "msg", "corrupt"} {
		os.MkdirAll(filepath.Join(dir, d), 0o700)
	}
	body := make([]byte, 2000)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		e := &Envelope{ID: NewID(), Sender: "sender@example.org", Size: int64(len(body)),
			Recipients: []Recipient{{Address: fmt.Sprintf("user%d@example.com", i), State: Deferred, Reason: "451 4.4.1 no answer", Updated: at}},
			Arrival:    at, Attempts: 3, NextAttempt: at.Add(time.Duration(i) * time.Second)}
		rec, err := EncodeEnvelope(e)
		if err != nil {
			b.Fatal(err)
		}
		data := append(append(append([]byte(nil), body...), rec...), footer(int64(len(body)), len(rec), 0)...)
		if err := os.WriteFile(filepath.Join(dir, "msg", string(e.ID)), data, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	var heap float64
	for b.Loop() {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		s, err := OpenSpool(ctx, dir, nil)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		heap = float64(m1.HeapAlloc-m0.HeapAlloc) / n
		if s.Len() != n || len(s.Recovered()) != 0 {
			b.Fatalf("opened %d messages, recovered %d", s.Len(), len(s.Recovered()))
		}
		s.Close()
	}
	b.ReportMetric(heap, "heap-B/msg")
}
