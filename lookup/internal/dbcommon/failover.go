package dbcommon

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Server is one entry of a table's "hosts": it runs queries on its own
// connections.
type Server interface {
	// Query runs the query that build returns (quoted with this
	// server's rules) and returns every column of every row as text,
	// NULL as nil.
	Query(ctx context.Context, build func(Quote) string) ([][]*string, error)
	// Reset drops the server's connections after a failure.
	Reset()
	// Close closes the server's connections for good.
	Close()
}

// Host is a Server in a Failover, with what Postfix's dict_pgsql.c and
// dict_mysql.c know of it.
type Host struct {
	Name   string // as written in "hosts", for messages
	Rank   int    // lower ranks are tried first: UNIX sockets, TCP, URIs
	Server Server

	mu      sync.Mutex
	active  bool      // its last query succeeded
	downTil time.Time // after a failure, skipped until then
}

// Failover is the Backend of a table with several hosts, as Postfix's
// database clients: hosts whose last query succeeded first, then the
// others by rank, at random among equals; a host whose query fails is
// skipped for Retry and the next one is asked. When none answers the
// query fails.
type Failover struct {
	Hosts []*Host
	Retry time.Duration    // Postfix's retry_interval
	Now   func() time.Time // default time.Now
}

// errNoServer is the cause of a query no host answered.
var errNoServer = errors.New("no server answered")

// order returns the hosts to try now.
func (f *Failover) order() []*Host {
	now := f.now()
	var active, other []*Host
	for _, h := range f.Hosts {
		h.mu.Lock()
		switch {
		case h.active:
			active = append(active, h)
		case !now.Before(h.downTil):
			other = append(other, h)
		}
		h.mu.Unlock()
	}
	byRank := func(hs []*Host) []*Host {
		rand.Shuffle(len(hs), func(i, j int) { hs[i], hs[j] = hs[j], hs[i] })
		slices.SortStableFunc(hs, func(a, b *Host) int { return a.Rank - b.Rank })
		return hs
	}
	return append(byRank(active), byRank(other)...)
}

func (f *Failover) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// Query runs the query on the first host that answers. Each host gets its
// share of the time ctx leaves, so that one that does not answer leaves
// time for the next.
func (f *Failover) Query(ctx context.Context, build func(Quote) string) ([][]*string, error) {
	hosts := f.order()
	var errs []error
	for i, h := range hosts {
		actx, cancel := context.WithCancel(ctx)
		if d, ok := ctx.Deadline(); ok && len(hosts)-i > 1 {
			cancel()
			actx, cancel = context.WithTimeout(ctx, time.Until(d)/time.Duration(len(hosts)-i))
		}
		rows, err := h.Server.Query(actx, build)
		cancel()
		h.mu.Lock()
		h.active = err == nil
		if err != nil {
			h.downTil = f.now().Add(f.Retry)
		}
		h.mu.Unlock()
		if err == nil {
			return rows, nil
		}
		h.Server.Reset()
		errs = append(errs, fmt.Errorf("%s: %w", h.Name, err))
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%w: every host failed less than retry_interval ago", errNoServer)
	}
	return nil, fmt.Errorf("%w: %w", errNoServer, errors.Join(errs...))
}

// Close closes every host's connections.
func (f *Failover) Close() {
	for _, h := range f.Hosts {
		h.Server.Close()
	}
}

// HostList splits a "hosts" value at commas and white space; an empty one
// is "localhost". A single host is listed twice, as Postfix lists it, so
// that a connection the server closed is replaced within the lookup.
func HostList(value string) []string {
	names := splitHosts(value)
	if len(names) == 0 {
		names = []string{"localhost"}
	}
	if len(names) == 1 {
		names = append(names, names[0])
	}
	return names
}

func splitHosts(v string) []string {
	var out []string
	start := -1
	for i := 0; i <= len(v); i++ {
		if i == len(v) || v[i] == ',' || v[i] == ' ' || v[i] == '\t' || v[i] == '\r' || v[i] == '\n' {
			if start >= 0 {
				out = append(out, v[start:i])
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	return out
}
