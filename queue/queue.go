package queue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"time"
)

// Queue is the storage a backend implements; the Scheduler adds the
// Postfix retry rules on top of it. Memory and Spool implement it, and
// package queuetest checks any implementation (run it on yours).
//
// Every method may be called from many goroutines at once.
type Queue interface {
	// Store writes the body and the envelope and returns only once both
	// are durable (for a persistent backend: on disk, fsynced): the caller
	// answers 250 after it. It assigns env.ID when empty and sets env.Size.
	// The body is streamed, never held whole in memory by a backend that
	// persists. A failed Store leaves no message behind.
	Store(ctx context.Context, env *Envelope, body io.Reader) error

	// Claim leases the first message in due order that is not held, whose
	// NextAttempt is not after now and which has no live lease at now, and
	// for which accept (when not nil) returns true. Due order is by
	// NextAttempt (or, for a message whose lease expired, the lease's end),
	// then Arrival, then ID. The returned envelope carries the new Lease
	// (a fresh Token, Until = now+lease). Claim returns ErrEmpty when no
	// message qualifies. Two concurrent Claims never return the same message
	// while its lease is live. accept must not call back into the Queue.
	Claim(ctx context.Context, now time.Time, lease time.Duration, accept func(*Envelope) bool) (Envelope, error)

	// Modify changes one message atomically: fn gets the current envelope,
	// Lease included, and edits it; when fn returns nil the new envelope is
	// durable before Modify returns, and its NextAttempt, Held and Lease
	// take effect for Claim. When fn returns an error nothing changes and
	// Modify returns that error. fn must not change ID or Size, and must not
	// call back into the Queue. A missing message gives ErrNotFound.
	Modify(ctx context.Context, id ID, fn func(*Envelope) error) error

	// Remove deletes a message and its body. A missing message gives
	// ErrNotFound. Remove need not be durable: after a power failure a
	// removed message may come back (and be delivered twice, as with
	// Postfix), but a crash of the process alone must not undo it.
	Remove(ctx context.Context, id ID) error

	// Get returns the current envelope of one message, Lease included.
	Get(ctx context.Context, id ID) (Envelope, error)

	// Body opens the message body for reading; the caller closes it.
	Body(ctx context.Context, id ID) (io.ReadCloser, error)

	// Walk calls fn for every message, in no particular order, with a
	// copy of its envelope. It stops at the first error fn returns and
	// returns it.
	Walk(ctx context.Context, fn func(*Envelope) error) error
}

// Errors returned by backends and the Scheduler.
var (
	ErrNotFound  = errors.New("queue: no such message")
	ErrEmpty     = errors.New("queue: no message due")
	ErrLeaseLost = errors.New("queue: lease lost (expired and claimed again, or the message changed hands)")
	ErrExists    = errors.New("queue: message ID already in use")
	ErrClosed    = errors.New("queue: closed")
)

var errNilBody = errors.New("queue: nil body reader (use an empty reader for an empty body)")

// NewID returns a random message ID: 20 upper-case hex digits.
func NewID() ID {
	var b [10]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	var h [20]byte
	hex.Encode(h[:], b[:])
	for i, c := range h {
		if c >= 'a' {
			h[i] = c - 'a' + 'A'
		}
	}
	return ID(h[:])
}
