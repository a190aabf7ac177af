package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/lookup"
)

// countingTable answers from a map and counts the questions; fail makes it
// fail like a directory that is down.
type countingTable struct {
	known map[string]bool
	asked map[string]int
	fail  bool
}

func (t *countingTable) Lookup(_ context.Context, key string) (string, bool, error) {
	t.asked[key]++
	if t.fail {
		return "", false, &lookup.Error{Key: key, Kind: lookup.Temporary, Err: errors.New("down")}
	}
	if t.known[key] {
		return "OK", true, nil
	}
	return "", false, nil
}

func TestCache(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	back := &countingTable{known: map[string]bool{"alice@example.com": true}, asked: map[string]int{}}
	c := &Cache{Table: back, TTL: 5 * time.Minute, NegativeTTL: 30 * time.Second, Now: func() time.Time { return now }}
	ctx := t.Context()
	look := func(key string, wantFound bool) {
		t.Helper()
		v, found, err := c.Lookup(ctx, key)
		if err != nil || found != wantFound || (found && v != "OK") {
			t.Fatalf("%s: %q %v %v, want found %v", key, v, found, err, wantFound)
		}
	}

	for range 3 {
		look("alice@example.com", true)
		look("carol@example.com", false)
	}
	if back.asked["alice@example.com"] != 1 || back.asked["carol@example.com"] != 1 {
		t.Errorf("asked %v, want each key once", back.asked)
	}

	// Carol is added to the directory: refused until the negative
	// entry expires, then found.
	back.known["carol@example.com"] = true
	now = now.Add(29 * time.Second)
	look("carol@example.com", false)
	now = now.Add(time.Second)
	look("carol@example.com", true)

	// Alice is removed: still found until her entry expires.
	delete(back.known, "alice@example.com")
	now = now.Add(4*time.Minute + 29*time.Second)
	look("alice@example.com", true)
	now = now.Add(time.Second)
	look("alice@example.com", false)

	// Errors are passed on and never remembered.
	back.fail = true
	for range 2 {
		if _, _, err := c.Lookup(ctx, "dave@example.com"); lookup.KindOf(err) != lookup.Temporary {
			t.Fatalf("error %v, want the table's temporary error", err)
		}
	}
	back.fail = false
	look("dave@example.com", false)
	if back.asked["dave@example.com"] != 3 {
		t.Errorf("dave asked %d times, want 3 (errors not cached)", back.asked["dave@example.com"])
	}
}

// The cache never holds more than MaxEntries keys, whatever it is asked.
func TestCacheBounded(t *testing.T) {
	back := &countingTable{known: map[string]bool{}, asked: map[string]int{}}
	c := &Cache{Table: back, MaxEntries: 100}
	for i := range 1000 {
		c.Lookup(t.Context(), "user"+string(rune('a'+i%26))+time.Duration(i).String()+"@example.com")
		if n := len(c.m); n > 100 {
			t.Fatalf("%d entries after %d lookups, cap 100", n, i+1)
		}
	}
	// A negative NegativeTTL remembers no missing key.
	c = &Cache{Table: back, NegativeTTL: -1}
	c.Lookup(t.Context(), "x@example.com")
	c.Lookup(t.Context(), "x@example.com")
	if back.asked["x@example.com"] != 2 || len(c.m) != 0 {
		t.Errorf("NegativeTTL -1: asked %d times, %d entries", back.asked["x@example.com"], len(c.m))
	}
}
