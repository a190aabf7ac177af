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
	s.StopAccepting()
	s.mu.Lock()
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

// StopAccepting closes the server's listeners, so that it takes no new
// connection, and returns at once; its sessions and deliveries go on.
// Retire calls it first. A program that hands its sockets to a new
// server (a reload) calls it before it says the reload is done, so that
// no connection made afterwards reaches the old configuration.
func (s *Server) StopAccepting() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	s.closing = true
	close(s.closed)
	for l := range s.listeners {
		l.Close()
	}
}
