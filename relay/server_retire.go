package relay

import "context"

// Retire stops the server for a reload, as Postfix's smtpd processes
// finish their sessions after "postfix reload": it stops accepting
// connections, lets every session run to its end (QUIT, the client's
// close, a timeout) on this server's configuration, stops claiming
// queued mail and waits for the deliveries in progress. Meanwhile a new
// Server over the same queue can serve the same listening sockets (the
// listeners given to Serve are closed, so the caller passes wrappers
// that leave the socket open). When ctx ends first, what is left is cut
// as Shutdown cuts it, and ctx's error is returned.
func (s *Server) Retire(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing {
		s.closing = true
		close(s.closed)
		for l := range s.listeners {
			l.Close()
		}
	}
	cancel := s.runCancel
	s.mu.Unlock()
	if cancel != nil {
		cancel() // claim nothing more; deliveries in progress go on
	}
	select {
	case <-s.sessionsDone():
	case <-ctx.Done():
	}
	return s.Shutdown(ctx)
}

// sessionsDone is closed when every connection has been served.
func (s *Server) sessionsDone() <-chan struct{} {
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	return done
}
