package client

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"
)

// Client delivers messages and keeps an idle pool of connections per
// (nexthop, address) for reuse. It is safe for concurrent use. Close it to
// stop its background goroutine and close idle connections.
type Client struct {
	cfg      Config
	timeouts Timeouts
	dialer   Dialer
	log      *slog.Logger

	mu     sync.Mutex
	idle   map[poolKey][]*session
	nidle  int
	closed bool
	stop   chan struct{}
	wg     sync.WaitGroup

	// scanBufs recycles the buffers of scanContent.
	scanBufs sync.Pool
}

// poolKey identifies connections that can serve each other's messages.
type poolKey struct {
	host, network, address string
	lmtp                   bool
	tls                    TLSLevel
	tlsName                string
	tlsMatch               string
}

func keyOf(t *Target) poolKey {
	return poolKey{host: strings.ToLower(t.Host), network: t.network(), address: t.Address,
		lmtp: t.LMTP, tls: t.TLS, tlsName: t.TLSName, tlsMatch: strings.ToLower(strings.Join(t.TLSMatch, " "))}
}

// ErrClosed is returned by Deliver after Close.
var ErrClosed = errors.New("client: closed")

// New checks cfg, fills in defaults and starts the idle-pool janitor.
func New(cfg Config) (*Client, error) {
	name := strings.TrimSuffix(strings.ToLower(cfg.Hostname), ".")
	switch {
	case name == "":
		return nil, errors.New("client: Config.Hostname is required")
	case name == "localhost" || strings.HasPrefix(name, "localhost."):
		return nil, errors.New(`client: Config.Hostname must not be "localhost"`)
	case strings.ContainsAny(cfg.Hostname, " \t\r\n<>"):
		return nil, errors.New("client: Config.Hostname contains invalid characters")
	}
	to, ok := cfg.Timeouts.withDefaults()
	if !ok {
		return nil, errors.New("client: negative timeout")
	}
	if cfg.MyHostname == "" {
		cfg.MyHostname = cfg.Hostname
	}
	if cfg.ChunkSize <= 0 {
		cfg.ChunkSize = 64 << 10
	}
	if cfg.MaxIdleTotal <= 0 {
		cfg.MaxIdleTotal = 100
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 2 * time.Second
	}
	if cfg.MaxReuseTime <= 0 {
		cfg.MaxReuseTime = 300 * time.Second
	}
	c := &Client{cfg: cfg, timeouts: to, dialer: cfg.Dialer, log: cfg.Logger,
		idle: make(map[poolKey][]*session), stop: make(chan struct{})}
	c.scanBufs.New = func() any {
		b := make([]byte, ioBufferSize)
		return &b
	}
	if c.dialer == nil {
		c.dialer = &net.Dialer{}
	}
	if c.log == nil {
		c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.MaxIdle >= 0 {
		c.wg.Add(1)
		go c.janitor()
	}
	return c, nil
}

// janitor closes idle connections that outlived IdleTimeout.
func (c *Client) janitor() {
	defer c.wg.Done()
	period := c.cfg.IdleTimeout / 2
	if period < 100*time.Millisecond {
		period = 100 * time.Millisecond
	}
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
			c.closeExpired()
		}
	}
}

func (c *Client) expired(s *session, now time.Time) bool {
	return now.Sub(s.idleAt) >= c.cfg.IdleTimeout || now.Sub(s.opened) >= c.cfg.MaxReuseTime
}

func (c *Client) closeExpired() {
	now := time.Now()
	var victims []*session
	c.mu.Lock()
	for k, list := range c.idle {
		keep := list[:0]
		for _, s := range list {
			if c.expired(s, now) {
				victims = append(victims, s)
			} else {
				keep = append(keep, s)
			}
		}
		c.nidle -= len(list) - len(keep)
		if len(keep) == 0 {
			delete(c.idle, k)
		} else {
			c.idle[k] = keep
		}
	}
	c.mu.Unlock()
	closeAll(victims)
}

// closeAll closes sessions politely, in parallel: an LMTP QUIT waits for
// its reply (up to Timeouts.Quit), and one slow peer must not hold up the
// others.
func closeAll(list []*session) {
	var wg sync.WaitGroup
	for _, s := range list {
		wg.Go(func() { s.close(true) })
	}
	wg.Wait()
}

// checkout returns the most recently used live idle session for t, or nil.
// Sessions found too old are closed in the background, by a goroutine the
// Client owns (Close waits for it): an LMTP QUIT waits for its reply, and
// a peer gone silent must not hold up this delivery.
func (c *Client) checkout(t *Target) *session {
	k := keyOf(t)
	now := time.Now()
	var victims []*session
	c.mu.Lock()
	defer c.mu.Unlock()
	defer func() {
		if len(victims) > 0 {
			c.closeLater(victims)
		}
	}()
	for list := c.idle[k]; len(list) > 0; list = c.idle[k] {
		s := list[len(list)-1]
		list[len(list)-1] = nil
		if len(list) == 1 {
			delete(c.idle, k)
		} else {
			c.idle[k] = list[:len(list)-1]
		}
		c.nidle--
		if c.expired(s, now) {
			victims = append(victims, s)
			continue
		}
		s.t = *t
		return s
	}
	return nil
}

// closeLater closes list in a goroutine the Client owns. c.mu is held and
// the pool open (Close empties it first), so Close has not started waiting
// for c.wg.
func (c *Client) closeLater(list []*session) {
	if c.closed {
		closeAll(list)
		return
	}
	c.wg.Go(func() { closeAll(list) })
}

// checkin keeps s for reuse, or closes it when it is broken, the pool is
// full or closed, or the connection is too old.
func (c *Client) checkin(s *session) {
	if s.broken || c.cfg.MaxIdle < 0 {
		s.close(true)
		return
	}
	s.idleAt = time.Now()
	c.mu.Lock()
	if c.closed || c.expired(s, s.idleAt) || c.cfg.MaxIdle > 0 && len(c.idle[s.key]) >= c.cfg.MaxIdle || c.nidle >= c.cfg.MaxIdleTotal {
		c.mu.Unlock()
		s.close(true)
		return
	}
	c.idle[s.key] = append(c.idle[s.key], s)
	c.nidle++
	c.mu.Unlock()
}

// Idle returns the number of idle connections in the pool.
func (c *Client) Idle() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nidle
}

// Close closes every idle connection (sending QUIT) and stops the
// janitor. It returns when every connection is closed: for LMTP, after the
// QUIT replies, or Timeouts.Quit at worst. Sessions in progress finish,
// then close instead of returning to the pool. Close is idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	idle := c.idle
	c.idle = make(map[poolKey][]*session)
	c.nidle = 0
	c.mu.Unlock()
	close(c.stop)
	c.wg.Wait()
	var all []*session
	for _, list := range idle {
		all = append(all, list...)
	}
	closeAll(all)
	return nil
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}
