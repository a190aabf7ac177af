package dbcommon

import "sync"

// Lazy holds a server's pool of connections, made when a lookup first
// needs it and dropped after a failure (Reset) so that the next lookup
// makes a fresh one.
type Lazy[P any] struct {
	// New makes the pool; Free closes it (connections in use first).
	New  func() (P, error)
	Free func(P)

	mu   sync.Mutex
	pool P
	set  bool
}

// Get returns the pool, making it when there is none.
func (l *Lazy[P]) Get() (P, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.set {
		p, err := l.New()
		if err != nil {
			return p, err
		}
		l.pool, l.set = p, true
	}
	return l.pool, nil
}

func (l *Lazy[P]) take() (P, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.pool, l.set
	var zero P
	l.pool, l.set = zero, false
	return p, ok
}

// Reset drops the pool; it is closed in the background, after the
// connections in use, so that the lookup that failed does not wait.
func (l *Lazy[P]) Reset() {
	if p, ok := l.take(); ok {
		go l.Free(p)
	}
}

// Close closes the pool and waits for it.
func (l *Lazy[P]) Close() {
	if p, ok := l.take(); ok {
		l.Free(p)
	}
}
