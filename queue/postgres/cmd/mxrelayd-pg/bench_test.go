package main

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/queue/postgres/internal/pgtest"
)

// BenchmarkRelay measures mail relayed end to end by one node and by two
// nodes on one queue: 16 SMTP clients send b.N messages (spread over the
// nodes) to a next hop that answers at once; the time runs until the
// next hop has them all. The clients, the nodes and PostgreSQL share the
// machine.
func BenchmarkRelay(b *testing.B) {
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			pre := pgtest.Prefix(b)
			hop := startNextHop(b, 0)
			args := []string{"-config", mainCF(b, hop.addr, 20), "-queue", pgtest.DSN(b), "-prefix", pre}
			var nodes []*node
			for i := range n {
				nodes = append(nodes, startNode(b, fmt.Sprintf("node%d.example.test", i), args...))
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for c := range 16 {
				wg.Go(func() {
					for {
						i := int(next.Add(1)) - 1
						if i >= b.N {
							return
						}
						if err := send(nodes[(c+i)%n].addr, i); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			waitFor(b, "every message delivered", time.Minute, func() bool { return len(hop.deliveries()) >= b.N })
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkIdleLatency measures, on an idle cluster of two nodes, the
// time from a message's 250 to its arrival at the next hop, for messages
// sent one at a time (through either node) with idle time between them.
func BenchmarkIdleLatency(b *testing.B) {
	pre := pgtest.Prefix(b)
	hop := startNextHop(b, 0)
	args := []string{"-config", mainCF(b, hop.addr, 20), "-queue", pgtest.DSN(b), "-prefix", pre}
	nodes := []*node{startNode(b, "node0.example.test", args...), startNode(b, "node1.example.test", args...)}
	var lat []time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		time.Sleep(200 * time.Millisecond) // idle: every worker waits in Next
		b.StartTimer()
		if err := send(nodes[i%2].addr, i); err != nil {
			b.Fatal(err)
		}
		acked := time.Now()
		waitFor(b, "the delivery", 10*time.Second, func() bool { return len(hop.deliveries()) > i })
		lat = append(lat, hop.deliveries()[i].end.Sub(acked))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2])/float64(time.Millisecond), "ms-median")
	b.ReportMetric(float64(lat[len(lat)*9/10])/float64(time.Millisecond), "ms-p90")
}
