package client

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mxrelay/mxrelay/internal/peertest"
)

// benchBody is a message of about size bytes in 78-character lines.
func benchBody(size int) []byte {
	var b bytes.Buffer
	b.WriteString("From: a@src.test\r\nTo: u@dst.test\r\nSubject: benchmark\r\n\r\n")
	line := strings.Repeat("0123456789", 7) + "abcdef\r\n"
	for b.Len() < size {
		b.WriteString(line)
	}
	return b.Bytes()[:size]
}

// BenchmarkDeliver measures messages per second to a loopback sink, over a
// reused pipelined connection and with a new connection per message.
func BenchmarkDeliver(b *testing.B) {
	for _, size := range []int{4 << 10, 1 << 20} {
		for _, reuse := range []bool{true, false} {
			name := fmt.Sprintf("size=%dKiB/reuse=%v", size>>10, reuse)
			b.Run(name, func(b *testing.B) {
				addr, count := peertest.Sink(b)
				c := newClient(b, func(c *Config) {
					if !reuse {
						c.MaxIdle = -1
					}
				})
				body := benchBody(size)
				m := &Message{From: "a@src.test", Recipients: []Recipient{{Address: "u@dst.test"}},
					Body: bytes.NewReader(body), Size: int64(len(body))}
				tg := Target{Host: "sink.test", Address: addr, TLS: TLSNone}
				ctx := context.Background()
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					res, err := c.Deliver(ctx, tg, m)
					if err != nil || res.Recipients[0].Status != Delivered {
						b.Fatalf("%v %+v", err, res)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
				if int(count()) < b.N {
					b.Fatalf("sink counted %d of %d messages", count(), b.N)
				}
			})
		}
	}
}

// BenchmarkDeliverParallel runs 8 deliveries at a time over the pool.
func BenchmarkDeliverParallel(b *testing.B) {
	addr, _ := peertest.Sink(b)
	c := newClient(b, func(c *Config) { c.MaxIdle = 16 })
	body := benchBody(4 << 10)
	tg := Target{Host: "sink.test", Address: addr, TLS: TLSNone}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		m := &Message{From: "a@src.test", Recipients: []Recipient{{Address: "u@dst.test"}},
			Body: bytes.NewReader(body), Size: int64(len(body))}
		for pb.Next() {
			if _, err := c.Deliver(context.Background(), tg, m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkDeliverGoSMTP delivers 4 KiB messages over a reused connection
// to a go-smtp server, the fake next hop of the tests.
func BenchmarkDeliverGoSMTP(b *testing.B) {
	srv := newFakeServer(b, nil)
	srv.be.data = func(r io.Reader) error {
		_, err := io.Copy(io.Discard, r)
		return err
	}
	c := newClient(b, nil)
	body := benchBody(4 << 10)
	m := &Message{From: "a@src.test", Recipients: []Recipient{{Address: "u@dst.test"}},
		Body: bytes.NewReader(body), Size: int64(len(body))}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Deliver(context.Background(), srv.target(), m); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkDeliverManyRecipients delivers a 4 KiB message to 1000
// recipients (smtpd_recipient_limit) over a reused connection: the RCPTs
// go out in 4 KiB pipelining windows, about 14 round trips.
func BenchmarkDeliverManyRecipients(b *testing.B) {
	addr, _ := peertest.Sink(b)
	c := newClient(b, nil)
	body := benchBody(4 << 10)
	m := &Message{From: "a@src.test", Body: bytes.NewReader(body), Size: int64(len(body))}
	for i := range 1000 {
		m.Recipients = append(m.Recipients, Recipient{Address: fmt.Sprintf("user%04d@dst.test", i)})
	}
	tg := Target{Host: "sink.test", Address: addr, TLS: TLSNone}
	b.ReportAllocs()
	for b.Loop() {
		res, err := c.Deliver(context.Background(), tg, m)
		if err != nil || res.Recipients[999].Status != Delivered {
			b.Fatalf("%v %+v", err, res.Recipients[999])
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkDeliverConcurrentDefault delivers 2 KiB messages to one next
// hop in rounds of 20 at once (Postfix's
// default_destination_concurrency_limit), as a queue manager hands out a
// burst of mail for one destination, with the default pool, and reports
// the connections opened per message: Postfix's scache keeps every
// connection for smtp_connection_cache_time_limit, so a round reuses the
// previous round's.
func BenchmarkDeliverConcurrentDefault(b *testing.B) {
	addr, _ := peertest.Sink(b)
	var dials atomic.Int64
	c := newClient(b, func(c *Config) {
		c.Dialer = DialerFunc(func(ctx context.Context, network, address string) (net.Conn, error) {
			dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, network, address)
		})
	})
	body := benchBody(2 << 10)
	tg := Target{Host: "sink.test", Address: addr, TLS: TLSNone}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	const burst = 20
	n := 0
	for b.Loop() {
		var wg sync.WaitGroup
		for range burst {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m := &Message{From: "a@src.test", Recipients: []Recipient{{Address: "u@dst.test"}},
					Body: bytes.NewReader(body), Size: int64(len(body))}
				if _, err := c.Deliver(context.Background(), tg, m); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
		n += burst
	}
	b.ReportMetric(float64(dials.Load())/float64(n), "conns/msg")
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}
