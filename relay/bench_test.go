package relay

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/queue"
)

// benchBody is a 4 KiB message.
var benchBody = "From: s@sender.example\r\nTo: u@example.test\r\nSubject: benchmark\r\n\r\n" +
	strings.Repeat(strings.Repeat("x", 78)+"\r\n", 51)

// benchRelay serves a backup MX for example.test (inline recipient table)
// storing into q, without delivery, logging to log (nil: nowhere), and
// returns its address. opts change the configurations first.
func benchRelay(b *testing.B, q queue.Queue, log *slog.Logger, opts ...func(*policy.Config, *Config)) string {
	b.Helper()
	ctx := context.Background()
	pc := policy.Config{
		MyHostname:         "mx2.example.test",
		RelayDomains:       "example.test",
		RelayRecipientMaps: "inline:{ u@example.test=OK }",
	}
	rc := Config{Hostname: "mx2.example.test", Logger: log}
	for _, o := range opts {
		o(&pc, &rc)
	}
	pol, err := policy.New(ctx, pc)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { pol.Close() })
	rc.Policy, rc.Queue = pol, queue.NewScheduler(q, queue.Config{})
	r, err := New(rc)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := NewServer(ServerConfig{MX: r, MaxConnectionsPerClient: -1})
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ctx, l)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return l.Addr().String()
}

// benchAccept measures messages accepted per second: MAIL, RCPT (policy
// with a recipient table), DATA (normalised, Received: prepended, stored
// before the 250), over loopback sessions reused by parallel clients.
func benchAccept(b *testing.B, q queue.Queue, log *slog.Logger, opts ...func(*policy.Config, *Config)) {
	addr := benchRelay(b, q, log, opts...)
	b.SetBytes(int64(len(benchBody)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		c, err := smtp.Dial(addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		if err := c.Hello("bench.example"); err != nil {
			b.Error(err)
			return
		}
		for pb.Next() {
			if err := transact(c, "s@sender.example", []string{"u@example.test"}, benchBody); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

func BenchmarkAcceptMemory(b *testing.B) { benchAccept(b, queue.NewMemory(), nil) }

func BenchmarkAcceptSpool(b *testing.B) {
	sp, err := queue.OpenSpool(context.Background(), b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sp.Close() })
	benchAccept(b, sp, nil)
}

// BenchmarkDataReader measures the DATA normaliser alone.
func BenchmarkDataReader(b *testing.B) {
	lim := DataLimits{MaxSize: 10240000, MaxHops: 50}
	b.SetBytes(int64(len(benchBody)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := io.Copy(io.Discard, newDataReader(strings.NewReader(benchBody), lim)); err != nil {
			b.Fatal(err)
		}
	}
}
