package daemon

import (
	"errors"
	"net"
	"sync"
	"time"
)

// handoff shares one listening socket between the servers of successive
// configurations: a reload starts the new server on it before the old
// one retires, so no connection is refused and none waits for the old
// server's sessions to end. One goroutine accepts; each server takes
// connections through its own view (share), whose Close leaves the
// socket open.
type handoff struct {
	l     net.Listener
	conns chan net.Conn
	done  chan struct{} // Close was called
	errc  chan struct{} // the socket failed; err says why
	err   error
	once  sync.Once
}

func newHandoff(l net.Listener) *handoff {
	h := &handoff{l: l, conns: make(chan net.Conn), done: make(chan struct{}), errc: make(chan struct{})}
	go h.accept()
	return h
}

// accept takes connections off the socket and hands each to the first
// server that asks.
func (h *handoff) accept() {
	for {
		c, err := h.l.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			select {
			case <-h.done:
			default:
				h.err = err
				close(h.errc)
			}
			return
		}
		select {
		case h.conns <- c:
		case <-h.done:
			c.Close()
			return
		}
	}
}

// Close closes the socket; connections not yet taken are closed.
func (h *handoff) Close() error {
	var err error
	h.once.Do(func() {
		close(h.done)
		err = h.l.Close()
	})
	return err
}

// share returns a view of the socket for one server.
func (h *handoff) share() net.Listener {
	return &share{h: h, closed: make(chan struct{})}
}

// share is one server's view of a handoff: Accept takes the next
// connection; Close ends this view only.
type share struct {
	h      *handoff
	closed chan struct{}
	once   sync.Once
}

func (s *share) Accept() (net.Conn, error) {
	select {
	case <-s.closed:
		return nil, net.ErrClosed
	default:
	}
	select {
	case c := <-s.h.conns:
		select {
		case <-s.closed:
			// Closed while taking it: pass it on to the next server.
			go func() {
				select {
				case s.h.conns <- c:
				case <-s.h.done:
					c.Close()
				}
			}()
			return nil, net.ErrClosed
		default:
			return c, nil
		}
	case <-s.closed:
		return nil, net.ErrClosed
	case <-s.h.errc:
		return nil, s.h.err
	case <-s.h.done:
		return nil, net.ErrClosed
	}
}

func (s *share) Close() error {
	s.once.Do(func() { close(s.closed) })
	return nil
}

func (s *share) Addr() net.Addr { return s.h.l.Addr() }
