package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/mxrelay/mxrelay/queue"
)

// Server answers Requests for a Scheduler.
type Server struct {
	// Scheduler is the queue the requests act on. Required unless
	// Current is set.
	Scheduler *queue.Scheduler
	// Current, when set, returns the scheduler each request acts on: a
	// relay that reloads its configuration makes a new one.
	Current func() *queue.Scheduler
	// Reload reloads the relay's configuration for OpReload; nil refuses
	// OpReload.
	Reload func(ctx context.Context) error
	// Now is the clock for the queue names of OpList. Nil: time.Now.
	Now func() time.Time
	// Timeout bounds one request, reading to writing. Default 60s.
	Timeout time.Duration
	// Logger receives a record per request; nil discards.
	Logger *slog.Logger

	wg sync.WaitGroup
}

func (s *Server) scheduler() *queue.Scheduler {
	if s.Current != nil {
		return s.Current()
	}
	return s.Scheduler
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// Serve answers connections on l until ctx ends or l fails, then closes
// l and waits for the requests in progress.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	defer s.wg.Wait()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if err := allowed(c); err != nil {
			s.logger().Warn("control: connection refused", "err", err)
			c.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.ServeConn(ctx, c)
		}()
	}
}

// ServeConn answers one request on c and closes it.
func (s *Server) ServeConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c.SetDeadline(time.Now().Add(timeout))
	req, err := readRequest(c)
	var resp Response
	var body io.ReadCloser
	if err == nil {
		resp, body, err = s.do(ctx, req)
	}
	if err != nil {
		resp = Response{Error: err.Error()}
	}
	s.logger().Info("control", "op", req.Op, "ids", len(req.IDs), "count", resp.Count, "err", resp.Error)
	w := bufio.NewWriter(c)
	line, _ := json.Marshal(resp)
	w.Write(append(line, '\n'))
	if body != nil {
		io.Copy(w, body)
		body.Close()
	}
	w.Flush()
}

// readRequest reads one request line, at most MaxRequestBytes.
func readRequest(r io.Reader) (Request, error) {
	var req Request
	line, err := bufio.NewReader(io.LimitReader(r, MaxRequestBytes)).ReadBytes('\n')
	if err != nil {
		return req, fmt.Errorf("control: reading the request: %w", err)
	}
	if err := json.Unmarshal(line, &req); err != nil {
		return req, fmt.Errorf("control: malformed request: %w", err)
	}
	return req, nil
}

// do runs one request.
func (s *Server) do(ctx context.Context, req Request) (Response, io.ReadCloser, error) {
	sched := s.scheduler()
	switch req.Op {
	case OpList:
		envs, err := sched.List(ctx, queue.Filter{})
		if err != nil {
			return Response{}, nil, err
		}
		now := s.now()
		resp := Response{Messages: make([]Message, 0, len(envs))}
		for i := range envs {
			resp.Messages = append(resp.Messages, messageOf(&envs[i], now))
		}
		resp.Count = len(resp.Messages)
		return resp, nil, nil
	case OpPing:
		return Response{}, nil, nil
	case OpFlush:
		n, err := sched.Flush(ctx, req.Site)
		return Response{Count: n}, nil, err
	case OpShow:
		return s.show(ctx, req)
	case OpReload:
		if s.Reload == nil {
			return Response{}, nil, errors.New("control: this server cannot reload")
		}
		if err := s.Reload(ctx); err != nil {
			return Response{}, nil, err
		}
		return Response{Count: 1}, nil, nil
	}
	op := map[string]func(context.Context, queue.ID) error{
		OpKick: sched.Kick, OpHold: sched.Hold, OpRelease: sched.Release,
		OpRequeue: sched.Requeue, OpDelete: sched.Delete,
	}[req.Op]
	if op == nil {
		return Response{}, nil, fmt.Errorf("control: unknown operation %q", req.Op)
	}
	ids, err := s.ids(ctx, req.IDs)
	if err != nil {
		return Response{}, nil, err
	}
	n := 0
	for _, id := range ids {
		switch err := op(ctx, id); {
		case err == nil:
			n++
		case errors.Is(err, queue.ErrNotFound):
		default:
			return Response{Count: n}, nil, fmt.Errorf("%s: %w", id, err)
		}
	}
	return Response{Count: n}, nil, nil
}

// ids expands All to every queued message.
func (s *Server) ids(ctx context.Context, in []string) ([]queue.ID, error) {
	var out []queue.ID
	for _, id := range in {
		if id != All {
			out = append(out, queue.ID(id))
			continue
		}
		envs, err := s.scheduler().List(ctx, queue.Filter{})
		if err != nil {
			return nil, err
		}
		for i := range envs {
			out = append(out, envs[i].ID)
		}
	}
	return out, nil
}

// show returns one message's envelope and content.
func (s *Server) show(ctx context.Context, req Request) (Response, io.ReadCloser, error) {
	if len(req.IDs) != 1 || req.IDs[0] == All {
		return Response{}, nil, errors.New("control: show takes one queue ID")
	}
	id := queue.ID(req.IDs[0])
	sched := s.scheduler()
	e, err := sched.Get(ctx, id)
	if err != nil {
		return Response{}, nil, err
	}
	body, err := sched.Body(ctx, id)
	if err != nil {
		return Response{}, nil, err
	}
	size := e.Size
	return Response{Count: 1, Messages: []Message{messageOf(&e, s.now())}, BodySize: size}, body, nil
}
