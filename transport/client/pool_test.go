package client

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mxrelay/mxrelay/internal/peertest"
)

func TestReuseAcrossMessages(t *testing.T) {
	srv := newFakeServer(t, nil)
	var wl writeLog
	c := newClient(t, func(c *Config) { c.Dialer = wl.dialer() })
	for i := range 5 {
		res, err := c.Deliver(context.Background(), srv.target(), msg("a@src.test", "x\r\n", "u@dst.test"))
		if err != nil {
			t.Fatal(err)
		}
		if res.Reused != (i > 0) {
			t.Errorf("message %d: Reused %v", i, res.Reused)
		}
	}
	if srv.accepted() != 1 || len(srv.be.messages()) != 5 {
		t.Fatalf("%d connections for %d messages", srv.accepted(), len(srv.be.messages()))
	}
	// Each reuse starts with RSET, pipelined with the next transaction.
	if n := strings.Count(srv.rawString(), "RSET\r\n"); n != 4 {
		t.Errorf("%d RSET", n)
	}
	w := wl.all()
	if last := w[len(w)-2]; !strings.HasPrefix(last, "RSET\r\nMAIL FROM:") || !strings.HasSuffix(last, "DATA\r\n") {
		t.Errorf("reuse write %q", last)
	}
	if c.Idle() != 1 {
		t.Errorf("idle %d", c.Idle())
	}
	c.Close()
	if c.Idle() != 0 {
		t.Error("Close left idle connections")
	}
}

func TestReuseRecoversFromDeadConnection(t *testing.T) {
	for _, pipelining := range []bool{true, false} {
		srv := newFakeServer(t, nil)
		if !pipelining {
			srv.hideKeywords("PIPELINING")
		}
		c := newClient(t, nil)
		ctx := context.Background()
		if _, err := c.Deliver(ctx, srv.target(), msg("a@src.test", "x\r\n", "u@dst.test")); err != nil {
			t.Fatal(err)
		}
		srv.dropConnections() // the peer closed the idle connection
		res, err := c.Deliver(ctx, srv.target(), msg("a@src.test", "y\r\n", "v@dst.test"))
		if err != nil {
			t.Fatalf("pipelining %v: %v", pipelining, err)
		}
		wantStatus(t, res, Delivered)
		if res.Reused || srv.accepted() != 2 || len(srv.be.messages()) != 2 {
			t.Errorf("pipelining %v: reused %v, %d connections, %d messages", pipelining, res.Reused, srv.accepted(), len(srv.be.messages()))
		}
	}
}

func TestBrokenConnectionNotReused(t *testing.T) {
	addr := scriptServer(t, "220 x\r\n", basicScript(func(cmd string) (string, bool) {
		if cmd == "." {
			return "421 4.4.2 closing\r\n", true
		}
		return "", false
	}))
	c := newClient(t, nil)
	res, err := c.Deliver(context.Background(), Target{Host: "mx.test", Address: addr}, msg("a@src.test", "x", "u@dst.test"))
	if e := asError(t, err); e.Code != 421 || !e.NextAddress() {
		t.Errorf("error %v", e)
	}
	wantStatus(t, res, Deferred)
	if c.Idle() != 0 {
		t.Error("connection kept after 421")
	}
}

func TestMaxIdle(t *testing.T) {
	srv := newFakeServer(t, nil)
	c := newClient(t, func(c *Config) { c.MaxIdle = 2 })
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := c.Deliver(context.Background(), srv.target(), msg("a@src.test", "x", "u@dst.test")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if c.Idle() > 2 {
		t.Errorf("%d idle connections, limit 2", c.Idle())
	}
	off := newClient(t, func(c *Config) { c.MaxIdle = -1 })
	for range 2 {
		if _, err := off.Deliver(context.Background(), srv.target(), msg("a@src.test", "x", "u@dst.test")); err != nil {
			t.Fatal(err)
		}
	}
	if off.Idle() != 0 {
		t.Error("reuse disabled but connection kept")
	}
}

// pipeListener is an in-memory listener so the pool can run inside a
// synctest bubble with fake time.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	dials int
	mu    sync.Mutex
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}
func (l *pipeListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *pipeListener) Addr() net.Addr { return &net.UnixAddr{Name: "pipe", Net: "pipe"} }

func (l *pipeListener) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	a, b := net.Pipe()
	select {
	case l.conns <- b:
		l.mu.Lock()
		l.dials++
		l.mu.Unlock()
		return a, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) dialCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dials
}

func TestPoolIdleTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ln := newPipeListener()
		srv := newFakeServerOn(t, ln, nil)
		c, err := New(Config{Hostname: "relay.test", Dialer: ln, IdleTimeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		tg := Target{Host: "mx.test", Address: "pipe", TLS: TLSNone}
		ctx := context.Background()
		deliver := func() *Result {
			t.Helper()
			res, err := c.Deliver(ctx, tg, msg("a@src.test", "x", "u@dst.test"))
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		deliver()
		time.Sleep(5 * time.Second)
		if !deliver().Reused || c.Idle() != 1 {
			t.Fatal("connection not reused within the idle timeout")
		}
		// The janitor closes the connection once it has been idle too long,
		// politely.
		time.Sleep(16 * time.Second)
		synctest.Wait()
		if c.Idle() != 0 {
			t.Fatalf("%d idle connections after the idle timeout", c.Idle())
		}
		if !strings.HasSuffix(srv.rawString(), "QUIT\r\n") {
			t.Errorf("no QUIT: %q", srv.rawString())
		}
		if deliver().Reused || ln.dialCount() != 2 {
			t.Errorf("dials %d", ln.dialCount())
		}
	})
}

func TestPoolMaxReuseTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ln := newPipeListener()
		newFakeServerOn(t, ln, nil)
		c, err := New(Config{Hostname: "relay.test", Dialer: ln, IdleTimeout: time.Hour, MaxReuseTime: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		tg := Target{Host: "mx.test", Address: "pipe", TLS: TLSNone}
		var reused []bool
		for _, wait := range []time.Duration{0, 40 * time.Second, 40 * time.Second} {
			time.Sleep(wait)
			res, err := c.Deliver(context.Background(), tg, msg("a@src.test", "x", "u@dst.test"))
			if err != nil {
				t.Fatal(err)
			}
			reused = append(reused, res.Reused)
		}
		// Opened at 0s: reused at 40s, too old (80s > 60s) at 80s.
		if reused[0] || !reused[1] || reused[2] || ln.dialCount() != 2 {
			t.Errorf("reused %v, dials %d", reused, ln.dialCount())
		}
	})
}

func TestCloseQuitsIdleConnections(t *testing.T) {
	srv := newFakeServer(t, nil)
	c := newClient(t, nil)
	if _, err := c.Deliver(context.Background(), srv.target(), msg("a@src.test", "x", "u@dst.test")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c.Close() // idempotent
	deadline := time.Now().Add(10 * time.Second)
	for !strings.HasSuffix(srv.rawString(), "QUIT\r\n") {
		if time.Now().After(deadline) {
			t.Fatalf("server never saw QUIT: %q", srv.rawString())
		}
		time.Sleep(time.Millisecond)
	}
}

// The connections a burst of concurrent deliveries opened serve the next
// bursts, as Postfix's scache keeps them (no per-destination count): three
// bursts of 10 never open more than 10 connections in all (with a cap of
// 4 idle per destination, each burst opened about 6 anew).
func TestPoolKeepsABurstsConnections(t *testing.T) {
	addr, _ := peertest.Sink(t)
	var dials atomic.Int64
	c := newClient(t, func(c *Config) {
		c.Dialer = DialerFunc(func(ctx context.Context, network, address string) (net.Conn, error) {
			dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, network, address)
		})
	})
	tg := Target{Host: "sink.test", Address: addr, TLS: TLSNone}
	burst := func() {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if _, err := c.Deliver(context.Background(), tg, msg("a@src.test", "x\r\n", "u@dst.test")); err != nil {
					t.Error(err)
				}
			}()
		}
		close(start)
		wg.Wait()
	}
	for range 3 {
		burst()
	}
	if n := dials.Load(); n == 0 || n > 10 {
		t.Errorf("three bursts of 10 dialed %d connections, want at most 10", n)
	}
}
