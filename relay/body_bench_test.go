package relay

import (
	"context"
	"strings"
	"testing"

	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/queue"
)

// BenchmarkOpenBody is what a delivery pays to hold a queued 100 KiB
// message for its sessions (openBody and its release).
func BenchmarkOpenBody(b *testing.B) {
	ctx := context.Background()
	pol, err := policy.New(ctx, policy.Config{MyHostname: "mx2.example.test", RelayDomains: "example.test"})
	if err != nil {
		b.Fatal(err)
	}
	defer pol.Close()
	sched := queue.NewScheduler(queue.NewMemory(), queue.Config{})
	r, err := New(Config{Hostname: "mx2.example.test", Policy: pol, Queue: sched})
	if err != nil {
		b.Fatal(err)
	}
	body := strings.Repeat(strings.Repeat("x", 1022)+"\r\n", 100)
	env := &queue.Envelope{Sender: "s@src.example", Recipients: []queue.Recipient{{Address: "u@example.test"}}}
	if err := sched.Store(ctx, env, strings.NewReader(body)); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		ra, release, err := r.openBody(ctx, env)
		if err != nil {
			b.Fatal(err)
		}
		var one [1]byte
		if _, err := ra.ReadAt(one[:], int64(len(body)-1)); err != nil {
			b.Fatal(err)
		}
		release()
	}
}
