package lookup

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// Limits of the connections of socketmap: and tcp: tables. The idle and
// age limits are Postfix's (dict_sockmap.c: 10s idle, 100s old); the
// timeout is mxrelay's lookup bound, not Postfix's 100s, so that a stalled
// server delays a lookup no longer than any other table of its kind.
const (
	netMaxIdle  = 10 * time.Second  // close a connection idle this long
	netMaxAge   = 100 * time.Second // close a connection this old
	netMaxConns = 16                // connections open at once, per table
	netMaxIdles = 4                 // idle connections kept, per table
	netTimeout  = 100 * time.Second // Postfix's timeout, for LookupTimeout < 0
)

// netPool keeps the connections of one table to its server: a lookup
// takes an idle connection or dials one, and gives it back when the
// exchange left it in a known state. At most netMaxConns are open, so a
// burst of lookups cannot open unbounded connections to the server.
type netPool struct {
	network, addr string
	timeout       time.Duration // bounds one exchange, dial included
	dial          func(ctx context.Context, network, addr string) (net.Conn, error)
	now           func() time.Time

	slots chan struct{} // one per open connection
	mu    sync.Mutex
	idle  []*pooledConn
	shut  bool
}

type pooledConn struct {
	net.Conn
	rd         *bufio.Reader // what the server sent, buffered across requests
	born, used time.Time
}

func newNetPool(network, addr string, o *OpenOptions) *netPool {
	p := &netPool{network: network, addr: addr, timeout: o.lookupTimeout(), now: time.Now, slots: make(chan struct{}, netMaxConns)}
	if p.timeout < 0 {
		p.timeout = netTimeout
	}
	if o.Now != nil {
		p.now = o.Now
	}
	var d net.Dialer
	p.dial = d.DialContext
	return p
}

// errPoolClosed is the cause of lookups in a table that was closed.
var errPoolClosed = errors.New("table is closed")

// exchange runs one request on a connection: f writes the request and
// reads the reply, and reports whether the connection may serve another
// request. A connection that was reused and fails before any byte of the
// reply (the server closed it while it was idle) is replaced once, as
// Postfix retries a broken connection once (dict_sockmap.c). The exchange
// ends at the pool's timeout or when ctx ends, whichever is first.
func (p *netPool) exchange(ctx context.Context, f func(c *pooledConn) (keep bool, err error)) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-p.slots }()
	for attempt := 0; ; attempt++ {
		c, reused, err := p.get(ctx)
		if err != nil {
			return err
		}
		deadline, _ := ctx.Deadline()
		c.SetDeadline(deadline)
		stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
		keep, err := f(c)
		if !stop() { // ctx ended during the exchange
			keep = false
			if err == nil {
				err = ctx.Err()
			}
		}
		if keep && err == nil {
			p.put(c)
			return nil
		}
		c.Close()
		if reused && attempt == 0 && broken(err) && ctx.Err() == nil {
			continue
		}
		return withCause(ctx, err)
	}
}

// withCause adds to an I/O error the end of ctx that caused it: the
// pool's timeout (context.DeadlineExceeded) or the caller's cancellation.
func withCause(ctx context.Context, err error) error {
	cause := ctx.Err()
	if cause == nil && errors.Is(err, os.ErrDeadlineExceeded) {
		cause = context.DeadlineExceeded // the connection's deadline, set from ctx's
	}
	if cause == nil || errors.Is(err, cause) {
		return err
	}
	return fmt.Errorf("%w: %w", cause, err)
}

// broken reports whether err says the server closed the connection.
func broken(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// get returns an idle connection young enough to use, or a new one.
func (p *netPool) get(ctx context.Context) (*pooledConn, bool, error) {
	now := p.now()
	p.mu.Lock()
	if p.shut {
		p.mu.Unlock()
		return nil, false, errPoolClosed
	}
	for len(p.idle) > 0 {
		c := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if now.Sub(c.used) < netMaxIdle && now.Sub(c.born) < netMaxAge {
			p.mu.Unlock()
			return c, true, nil
		}
		c.Close()
	}
	p.mu.Unlock()
	nc, err := p.dial(ctx, p.network, p.addr)
	if err != nil {
		return nil, false, err
	}
	return &pooledConn{Conn: nc, rd: bufio.NewReader(nc), born: now, used: now}, false, nil
}

// put keeps c for the next lookup, or closes it when enough are kept.
func (p *netPool) put(c *pooledConn) {
	c.used = p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shut || len(p.idle) >= netMaxIdles {
		c.Close()
		return
	}
	p.idle = append(p.idle, c)
}

// Close closes the idle connections; later lookups fail.
func (p *netPool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.shut = true
	for _, c := range p.idle {
		c.Close()
	}
	p.idle = nil
	return nil
}
