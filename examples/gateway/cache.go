package main

import (
	"context"
	"sync"
	"time"

	"github.com/mxrelay/mxrelay/lookup"
)

// Cache is a lookup.Table that remembers the answers of a slower one
// (an HTTP directory, a database) for a while: a dictionary attack on the
// gateway then costs the directory one request per distinct address, not
// one per RCPT.
//
// Found keys are remembered for TTL, missing keys for NegativeTTL; errors
// are never remembered, so a directory that comes back is asked at once.
// The price is staleness: a recipient added to the directory is refused
// for up to NegativeTTL, one removed is accepted for up to TTL (and
// bounced by the internal server).
type Cache struct {
	// Table is the table behind the cache. Required.
	Table lookup.Table
	// TTL is how long a found key is remembered. Default 5m.
	TTL time.Duration
	// NegativeTTL is how long a missing key is remembered. Default 30s;
	// negative: not at all.
	NegativeTTL time.Duration
	// MaxEntries caps the keys remembered. Default 100000. When it is
	// reached, expired entries are dropped, and if that is not enough,
	// half of the others.
	MaxEntries int
	// Now is the clock. Default time.Now.
	Now func() time.Time

	mu sync.Mutex
	m  map[string]cacheEntry
}

type cacheEntry struct {
	value   string
	found   bool
	expires time.Time
}

// Lookup implements lookup.Table.
func (c *Cache) Lookup(ctx context.Context, key string) (string, bool, error) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.value, e.found, nil
	}
	v, found, err := c.Table.Lookup(ctx, key)
	if err != nil {
		return "", false, err
	}
	ttl := c.TTL
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	if !found {
		ttl = c.NegativeTTL
		if ttl == 0 {
			ttl = 30 * time.Second
		}
	}
	if ttl > 0 {
		c.store(key, cacheEntry{value: v, found: found, expires: now.Add(ttl)}, now)
	}
	return v, found, nil
}

func (c *Cache) store(key string, e cacheEntry, now time.Time) {
	max := c.MaxEntries
	if max <= 0 {
		max = 100000
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]cacheEntry)
	}
	if _, ok := c.m[key]; !ok && len(c.m) >= max {
		for k, old := range c.m {
			if !now.Before(old.expires) {
				delete(c.m, k)
			}
		}
		for k := range c.m { // still full: forget half
			if len(c.m) <= max/2 {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[key] = e
}

func (c *Cache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// String names the cached table.
func (c *Cache) String() string { return lookup.Name(c.Table) }
