package relay

import (
	"context"
	"net/netip"
	"sync"
	"time"
)

// RateLimits are the per-client event rates Postfix's anvil(8) keeps for
// smtpd: connections, MAIL FROM and RCPT TO commands and new TLS
// sessions per client address, counted over anvil_rate_time_unit. The
// zero value limits nothing.
//
// The counters are this process's (one MX), as one Postfix anvil server
// counts for all of its smtpd processes; a reload (a new MX) starts
// them afresh. As anvil, a client's rates are reset when a time unit has
// passed since the first event of the current count (not a sliding
// window), and a client is forgotten a time unit after its last
// connection ended.
type RateLimits struct {
	// ConnectionRate caps the connections a client may open per
	// TimeUnit; the next is answered "421 4.7.0 HOSTNAME Error: too
	// many connections from ADDR" before the greeting, as Postfix
	// smtpd_client_connection_rate_limit. 0: no limit.
	ConnectionRate int
	// MessageRate caps MAIL FROM commands per client per TimeUnit; the
	// next is answered "450 4.7.1 Error: too much mail from ADDR", as
	// Postfix smtpd_client_message_rate_limit. 0: no limit.
	MessageRate int
	// RecipientRate caps RCPT TO commands per client per TimeUnit (every
	// command counts, accepted or not); the next is answered "450 4.7.1
	// Error: too many recipients from ADDR", as Postfix
	// smtpd_client_recipient_rate_limit. 0: no limit.
	RecipientRate int
	// NewTLSSessionRate caps new (not resumed) TLS sessions per client
	// per TimeUnit, as Postfix smtpd_client_new_tls_session_rate_limit:
	// past it STARTTLS is answered "454 4.7.0 Error: too many new TLS
	// sessions from NAME[ADDR]", and the handshake that goes over it
	// ends the session with "421 4.7.0 HOSTNAME Error: too many new TLS
	// sessions from NAME[ADDR]". 0: no limit.
	NewTLSSessionRate int
	// TimeUnit is the period the rates count over. Default 60s, as
	// Postfix anvil_rate_time_unit.
	TimeUnit time.Duration
	// Exempt reports the clients no rate applies to (nor counts), as
	// Postfix smtpd_client_event_limit_exceptions (default $mynetworks).
	// Nil: none.
	Exempt func(ctx context.Context, client netip.Addr) bool
}

func (l RateLimits) any() bool {
	return l.ConnectionRate > 0 || l.MessageRate > 0 || l.RecipientRate > 0 || l.NewTLSSessionRate > 0
}

// anvil counts events per client address (anvil.c's ANVIL_REMOTE).
type anvil struct {
	limits RateLimits
	now    func() time.Time

	mu      sync.Mutex
	clients map[netip.Addr]*anvilClient
	sweepAt int // sweep forgotten clients when the map grows past it
}

// anvilClient is one client's counts: connections open, and the events
// of the current time unit, which began at start.
type anvilClient struct {
	count                  int
	conn, mail, rcpt, ntls int
	start                  time.Time
	idle                   time.Time // when count last fell to 0
}

// anvilEvent names a counter.
type anvilEvent int8

const (
	eventConnect anvilEvent = iota
	eventMail
	eventRcpt
	eventNewTLS
)

// minSweep is the client count below which the map is never swept.
const minSweep = 1024

func newAnvil(l RateLimits, now func() time.Time) *anvil {
	if l.TimeUnit <= 0 {
		l.TimeUnit = 60 * time.Second
	}
	return &anvil{limits: l, now: now, clients: map[netip.Addr]*anvilClient{}, sweepAt: minSweep}
}

// exempt reports a client the limits do not count, looked up before any
// lock is taken (a table of the user's may be slow).
func (a *anvil) exempt(ctx context.Context, addr netip.Addr) bool {
	return a == nil || !a.limits.any() || !addr.IsValid() || a.limits.Exempt != nil && a.limits.Exempt(ctx, addr)
}

// connect records a connection and returns the client's connection rate
// in this time unit, this one included (anvil_clnt_connect).
func (a *anvil) connect(addr netip.Addr) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	c := a.client(addr, now)
	c.count++
	return c.incr(eventConnect, now, a.limits.TimeUnit)
}

// disconnect ends a connection that connect counted.
func (a *anvil) disconnect(addr netip.Addr) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c := a.clients[addr]; c != nil && c.count > 0 {
		if c.count--; c.count == 0 {
			c.idle = a.now()
		}
	}
}

// event records a MAIL, RCPT or new TLS session and returns its rate in
// this time unit, this one included.
func (a *anvil) event(addr netip.Addr, e anvilEvent) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	return a.client(addr, now).incr(e, now, a.limits.TimeUnit)
}

// rate returns an event's rate without counting one (anvil_clnt_newtls_stat).
func (a *anvil) rate(addr netip.Addr, e anvilEvent) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.clients[addr]
	if c == nil || a.expired(c, a.now()) {
		return 0
	}
	return *c.counter(e)
}

// client returns addr's counts, new when it had none or was forgotten.
func (a *anvil) client(addr netip.Addr, now time.Time) *anvilClient {
	c := a.clients[addr]
	if c == nil || c.count == 0 && now.Sub(c.idle) > a.limits.TimeUnit {
		if c == nil && len(a.clients) >= a.sweepAt {
			a.sweep(now)
		}
		c = &anvilClient{start: now}
		a.clients[addr] = c
	}
	return c
}

// sweep forgets the clients idle for more than a time unit, as anvil's
// anvil_remote_expire timer does.
func (a *anvil) sweep(now time.Time) {
	for addr, c := range a.clients {
		if c.count == 0 && now.Sub(c.idle) > a.limits.TimeUnit {
			delete(a.clients, addr)
		}
	}
	a.sweepAt = max(minSweep, 2*len(a.clients))
}

// expired reports that the client's current time unit is over: its rates
// read 0 (anvil's "do not report stale information").
func (a *anvil) expired(c *anvilClient, now time.Time) bool {
	return now.Sub(c.start) > a.limits.TimeUnit
}

// incr counts an event, first resetting every rate when the time unit
// that began at start is over (ANVIL_REMOTE_INCR_RATE).
func (c *anvilClient) incr(e anvilEvent, now time.Time, unit time.Duration) int {
	if now.Sub(c.start) > unit {
		c.conn, c.mail, c.rcpt, c.ntls, c.start = 0, 0, 0, 0, now
	}
	p := c.counter(e)
	*p++
	return *p
}

func (c *anvilClient) counter(e anvilEvent) *int {
	switch e {
	case eventMail:
		return &c.mail
	case eventRcpt:
		return &c.rcpt
	case eventNewTLS:
		return &c.ntls
	}
	return &c.conn
}
