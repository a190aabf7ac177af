package relay

import (
	"bufio"
	"context"
	"fmt"
	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/queue"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// openSilent opens n connections to addr from the loopback addresses
// 127.0.0.10 and up (perAddr each), reads their greetings and then says
// nothing: the connections a hostile or broken client holds.
func openSilent(t testing.TB, addr string, n, perAddr int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := netip.AddrFrom4([4]byte{127, 0, byte(1 + i/perAddr/250), byte(10 + (i/perAddr)%250)})
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}, Timeout: 20 * time.Second}
			c, err := d.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
				c.Close()
				errs <- fmt.Errorf("greeting: %w", err)
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("hostile connection: %v", err)
	}
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	return conns
}

// TestSilentConnectionsDoNotLockOut: with 1,000 silent connections open
// (20 addresses at the per-client limit of 50), a new client from another
// address still gets its greeting and relays a message.
func TestSilentConnectionsDoNotLockOut(t *testing.T) {
	w := newWorld(t, worldOpts{noRun: true})
	_, addr := serve(t, ServerConfig{MX: w.relay})
	openSilent(t, addr, 1000, 50)
	s := w.raw()
	s.c.SetDeadline(time.Now().Add(30 * time.Second))
	for _, step := range []struct {
		cmd  string
		code int
	}{{"EHLO client.example", 250}, {"MAIL FROM:<s@sender.example>", 250}, {"RCPT TO:<u@example.test>", 250}, {"DATA", 354}, {"Subject: x\r\n\r\nhello\r\n.", 250}} {
		if code, msg := s.cmd(step.cmd); code != step.code {
			t.Fatalf("%s: %d %s", strings.SplitN(step.cmd, "\r", 2)[0], code, msg)
		}
	}
}

// TestStressedSessions: from 80% of MaxConnections on, a new session
// gets Postfix's stress limits: here one error ends it.
func TestStressedSessions(t *testing.T) {
	w := newWorld(t, worldOpts{noRun: true})
	_, addr := serve(t, ServerConfig{MX: w.relay, MaxConnections: 10, MaxConnectionsPerClient: -1})
	openSilent(t, addr, 8, 8)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(c, "BOGUS\r\n")
	r := bufio.NewReader(c)
	var got []string
	for range 3 {
		line, err := r.ReadString('\n')
		if err != nil {
			break
		}
		got = append(got, strings.TrimRight(line, "\r\n"))
	}
	want := []string{"220 mx2.example.test ESMTP Postfix", "500 5.5.2 Error: command not recognized", "421 4.7.0 mx2.example.test Error: too many errors"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("under stress: %q, want %q", got, want)
	}
}

// BenchmarkIdleConnectionMemory reports the memory an idle SMTP session
// holds, server and client ends of a loopback connection together, for
// BENCHMARKS.md.
func BenchmarkIdleConnectionMemory(b *testing.B) {
	mx, err := New(Config{Hostname: "mx.example.net", Queue: queue.NewScheduler(queue.NewMemory(), queue.Config{}),
		Policy: CheckerFunc(func(context.Context, *policy.Request) policy.Decision { return policy.Decision{} })})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := NewServer(ServerConfig{MX: mx, MaxConnectionsPerClient: -1})
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(context.Background(), l)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	const n = 1000
	for range b.N {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		conns := openSilent(b, l.Addr().String(), n, n)
		time.Sleep(100 * time.Millisecond)
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(int64(after.HeapInuse+after.StackInuse)-int64(before.HeapInuse+before.StackInuse))/n, "B/conn")
		for _, c := range conns {
			c.Close()
		}
	}
}
