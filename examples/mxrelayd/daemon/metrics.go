package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/mxrelay/mxrelay/relay"
	"github.com/mxrelay/mxrelay/relay/metrics"
)

// metricsServer serves -metrics: Prometheus scrapes GET /metrics.
type metricsServer struct {
	srv    *http.Server
	l      net.Listener
	served chan error
}

// startMetrics listens on addr and serves m at /metrics.
func startMetrics(ctx context.Context, addr string, m *metrics.Metrics) (*metricsServer, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m)
	s := &metricsServer{
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 60 * time.Second,
			IdleTimeout: 120 * time.Second, MaxHeaderBytes: 16 << 10},
		l:      l,
		served: make(chan error, 1),
	}
	go func() { s.served <- s.srv.Serve(l) }()
	return s, nil
}

// Addr is where the server listens.
func (s *metricsServer) Addr() string { return s.l.Addr().String() }

// Close stops the server and waits for it.
func (s *metricsServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if serr := <-s.served; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// observers fans the relay's events out to several observers.
type observers []relay.Observer

func (o observers) Accepted(a relay.Accepted) {
	for _, x := range o {
		x.Accepted(a)
	}
}

func (o observers) Rejected(r relay.Rejection) {
	for _, x := range o {
		x.Rejected(r)
	}
}

func (o observers) Attempted(a relay.Attempt) {
	for _, x := range o {
		x.Attempted(a)
	}
}

func (o observers) SessionEnded(e relay.SessionEnd) {
	for _, x := range o {
		if so, ok := x.(relay.SessionObserver); ok {
			so.SessionEnded(e)
		}
	}
}
