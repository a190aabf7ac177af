package lookup

import (
	"context"
	"time"
)

// DefaultLookupTimeout bounds each lookup of a table of your own (see
// Bounded) when nothing else is said. A stalled SQL server, HTTP service
// or network file then delays only the lookups that need it, and for at
// most this long, before they answer a Temporary error ("451 4.3.0" at
// RCPT, a deferral in delivery). Postfix has no such bound for most of
// its table types (a stalled proxymap client waits ipc_timeout, 3600s);
// mxrelay is stricter so that one dead backend cannot hold every SMTP
// session.
const DefaultLookupTimeout = 10 * time.Second

// Bounded returns a table whose lookups answer within d: past it, a
// lookup of t returns a Temporary *Error and its context is cancelled,
// while t's late answer is dropped. A table that honours its context
// stops at once; one that does not (a blocked read) keeps one goroutine
// until it returns, and only the lookups of t wait for it.
//
// A negative d marks t as unbounded: its lookups run as they are, and
// later calls of Bounded leave it so (relay.LoadOptions.LookupTimeout
// negative reaches the transport maps this way).
//
// Bounded returns t unchanged when t is nil, d is 0, t is one of this
// package's tables (they answer from memory and bound their own
// reloads, see OpenOptions.ReloadTimeout) or t is already bounded: wrap
// a table yourself with the bound you want before you hand it to
// mxrelay, which bounds the other tables of your own by
// DefaultLookupTimeout.
func Bounded(t Table, d time.Duration) Table {
	if d == 0 {
		return t
	}
	switch t.(type) {
	case nil, *Map, HashTable, CDBTable, CIDRTable, RegexpTable, PCRETable, UnixTable, staticTable, boundedTable:
		return t
	}
	return boundedTable{t: t, d: d}
}

// boundedTable bounds the lookups of a table of the caller's.
type boundedTable struct {
	t Table
	d time.Duration
}

type lookupResult struct {
	value string
	found bool
	err   error
}

func (b boundedTable) Lookup(ctx context.Context, key string) (string, bool, error) {
	if b.d < 0 { // unbounded by choice
		return b.t.Lookup(ctx, key)
	}
	inner, cancel := context.WithTimeout(ctx, b.d)
	defer cancel()
	done := make(chan lookupResult, 1) // buffered: a late answer never blocks its goroutine
	go b.lookup(inner, key, done)
	select {
	case r := <-done:
		return r.value, r.found, r.err
	case <-inner.Done():
		if err := ctx.Err(); err != nil { // the caller gave up (client gone, shutdown)
			return "", false, &Error{Table: Name(b.t), Key: key, Kind: Temporary, Err: err}
		}
		return "", false, errorf(Name(b.t), key, Temporary, "no answer within %v", b.d)
	}
}

// lookup asks the table on a goroutine of its own, so a panic there is
// recovered here, where no SMTP session's recover can see it, and
// answered as a Temporary error rather than ending the process.
func (b boundedTable) lookup(ctx context.Context, key string, done chan<- lookupResult) {
	defer func() {
		if r := recover(); r != nil {
			done <- lookupResult{err: errorf(Name(b.t), key, Temporary, "table panicked: %v", r)}
		}
	}()
	v, ok, err := b.t.Lookup(ctx, key)
	done <- lookupResult{v, ok, err}
}

// String names the wrapped table.
func (b boundedTable) String() string { return Name(b.t) }

// Unwrap returns the wrapped table.
func (b boundedTable) Unwrap() Table { return b.t }
