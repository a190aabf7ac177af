package queue

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// Memory is a Queue held in memory: for tests, and for programs that
// accept losing queued mail on restart. Bodies are kept whole in memory.
// The zero value is not usable; call NewMemory.
type Memory struct {
	mu   sync.Mutex
	msgs map[ID]*memMsg
	idx  *index
}

type memMsg struct {
	env  Envelope
	body []byte
}

// NewMemory returns an empty in-memory queue.
func NewMemory() *Memory {
	return &Memory{msgs: make(map[ID]*memMsg), idx: newIndex()}
}

var _ Queue = (*Memory)(nil)

// Store implements Queue. It reads the whole body into memory.
func (m *Memory) Store(ctx context.Context, env *Envelope, body io.Reader) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if body == nil {
		return errNilBody
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, body); err != nil {
		return fmt.Errorf("queue: reading body: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if env.ID == "" {
		env.ID = NewID()
	}
	if _, dup := m.msgs[env.ID]; dup {
		return fmt.Errorf("%w: %s", ErrExists, env.ID)
	}
	env.Size = int64(buf.Len())
	env.Lease = Lease{}
	if err := check(env); err != nil {
		return err
	}
	msg := &memMsg{env: env.Clone(), body: buf.Bytes()}
	m.msgs[env.ID] = msg
	m.idx.put(&msg.env)
	return nil
}

// Claim implements Queue.
func (m *Memory) Claim(ctx context.Context, now time.Time, lease time.Duration, accept func(*Envelope) bool) (Envelope, error) {
	return m.claim(ctx, now, lease, accept, false)
}

func (m *Memory) claimPark(ctx context.Context, now time.Time, lease time.Duration, accept func(*Envelope) bool) (Envelope, error) {
	return m.claim(ctx, now, lease, accept, true)
}

func (m *Memory) unpark(ids []ID) {
	m.mu.Lock()
	m.idx.unpark(ids)
	m.mu.Unlock()
}

func (m *Memory) claim(ctx context.Context, now time.Time, lease time.Duration, accept func(*Envelope) bool, park bool) (Envelope, error) {
	if err := ctx.Err(); err != nil {
		return Envelope{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := m.idx.claim(now, lease, accept, func(id ID) (*Envelope, bool) {
		c := m.msgs[id].env.Clone()
		return &c, true
	}, park)
	if err == nil {
		m.msgs[e.ID].env.Lease = e.Lease
	}
	return e, err
}

// Modify implements Queue.
func (m *Memory) Modify(ctx context.Context, id ID, fn func(*Envelope) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	msg := m.msgs[id]
	if msg == nil {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	e := msg.env.Clone()
	if err := fn(&e); err != nil {
		return err
	}
	e.ID, e.Size = msg.env.ID, msg.env.Size
	if err := check(&e); err != nil {
		return err
	}
	msg.env = e
	m.idx.put(&msg.env)
	return nil
}

// Remove implements Queue.
func (m *Memory) Remove(ctx context.Context, id ID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.msgs[id] == nil {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	delete(m.msgs, id)
	m.idx.remove(id)
	return nil
}

// Get implements Queue.
func (m *Memory) Get(ctx context.Context, id ID) (Envelope, error) {
	if err := ctx.Err(); err != nil {
		return Envelope{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	msg := m.msgs[id]
	if msg == nil {
		return Envelope{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return msg.env.Clone(), nil
}

// Body implements Queue.
func (m *Memory) Body(ctx context.Context, id ID) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	msg := m.msgs[id]
	if msg == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return io.NopCloser(bytes.NewReader(msg.body)), nil
}

// Walk implements Queue. fn runs without the lock held, on a snapshot.
func (m *Memory) Walk(ctx context.Context, fn func(*Envelope) error) error {
	m.mu.Lock()
	snap := make([]Envelope, 0, len(m.msgs))
	for _, msg := range m.msgs {
		snap = append(snap, msg.env.Clone())
	}
	m.mu.Unlock()
	for i := range snap {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(&snap[i]); err != nil {
			return err
		}
	}
	return nil
}

// Len returns the number of messages held.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.msgs)
}
