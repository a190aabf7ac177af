package relay

import (
	"sync"
)

// markClosing tells the session to end after its current transfer and
// says whether it is idle (not receiving a message).
func (s *session) markClosing() (idle bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	return !s.inData
}

// sessionSet tracks live sessions for Shutdown.
type sessionSet struct {
	mu     sync.Mutex
	m      map[*session]struct{}
	closed bool
	idle   chan struct{} // made by close, closed when the set is empty
}

func newSessionSet() *sessionSet {
	return &sessionSet{m: make(map[*session]struct{})}
}

func (ss *sessionSet) add(s *session) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.closed {
		return false
	}
	ss.m[s] = struct{}{}
	return true
}

func (ss *sessionSet) remove(s *session) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if _, ok := ss.m[s]; !ok {
		return
	}
	delete(ss.m, s)
	if ss.closed && len(ss.m) == 0 {
		close(ss.idle)
	}
}

// close refuses new sessions, shuts the idle ones down, and returns a
// channel closed once every session has ended.
func (ss *sessionSet) close() <-chan struct{} {
	ss.mu.Lock()
	if ss.closed {
		ss.mu.Unlock()
		return ss.idle
	}
	ss.closed = true
	ss.idle = make(chan struct{})
	if len(ss.m) == 0 {
		close(ss.idle)
	}
	done := ss.idle
	// Every session is marked before any is told, so a client that saw
	// the 421 knows the others will close after their transfer.
	var idle []*session
	for s := range ss.m {
		if s.markClosing() {
			idle = append(idle, s)
		}
	}
	ss.mu.Unlock()
	for _, s := range idle {
		s.closeIdle()
	}
	return done
}

// cut ends the sessions still open.
func (ss *sessionSet) cut() {
	ss.mu.Lock()
	list := make([]*session, 0, len(ss.m))
	for s := range ss.m {
		list = append(list, s)
	}
	ss.mu.Unlock()
	for _, s := range list {
		s.cut()
	}
}
