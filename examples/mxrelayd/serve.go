package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay"
)

// maxRetire bounds how long a retired configuration's sessions may run
// after a reload; each command is bounded by smtpd_timeout anyway.
const maxRetire = time.Hour

// relayd is the running relay: the server of the current configuration,
// the listening sockets every configuration's server shares, and the
// servers of earlier configurations that are finishing their sessions.
type relayd struct {
	load   func(ctx context.Context) (*relay.Loaded, error) // main.cf and its tables, read again
	log    *slog.Logger
	socks  []*handoff
	failed chan error // a listening socket failed

	base     context.Context // the daemon's: servers run under it, not a reload request's
	reloadMu sync.Mutex      // one reload at a time
	mu       sync.Mutex
	ld       *relay.Loaded
	srv      *relay.Server

	retireCtx    context.Context // ends at shutdown: retiring servers are cut
	retireCancel context.CancelFunc
	retiring     sync.WaitGroup
}

// newRelayd serves ld on the listeners.
func newRelayd(ctx context.Context, ld *relay.Loaded, ls []net.Listener, load func(context.Context) (*relay.Loaded, error), log *slog.Logger) (*relayd, error) {
	srv, err := relay.NewServer(ld.Server)
	if err != nil {
		return nil, err
	}
	d := &relayd{base: ctx, load: load, log: log, ld: ld, srv: srv, failed: make(chan error, len(ls))}
	d.retireCtx, d.retireCancel = context.WithCancel(context.WithoutCancel(ctx))
	for _, l := range ls {
		d.socks = append(d.socks, newHandoff(l))
	}
	d.serve(ctx, srv)
	return d, nil
}

// serve runs srv on every socket.
func (d *relayd) serve(ctx context.Context, srv *relay.Server) {
	for _, h := range d.socks {
		go func() {
			if err := srv.Serve(ctx, h.share()); err != nil {
				select {
				case d.failed <- err:
				default: // one failure is enough to stop
				}
			}
		}()
	}
}

// scheduler is the current configuration's queue scheduler.
func (d *relayd) scheduler() *queue.Scheduler {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ld.MX.Queue()
}

// reload reads main.cf and its tables again and serves the new
// configuration: new sessions and deliveries follow it, sessions in
// progress finish on the old one (postfix reload). A configuration that
// fails to load keeps the running one; the error says why. ctx bounds
// the loading only.
func (d *relayd) reload(ctx context.Context) error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	ld, err := d.load(ctx)
	if err != nil {
		d.log.Error("reload failed; the running configuration stays", "err", err)
		return err
	}
	srv, err := relay.NewServer(ld.Server)
	if err != nil {
		ld.Close()
		d.log.Error("reload failed; the running configuration stays", "err", err)
		return err
	}
	d.mu.Lock()
	oldSrv, oldLd := d.srv, d.ld
	d.srv, d.ld = srv, ld
	d.mu.Unlock()
	d.serve(d.base, srv)
	d.retiring.Add(1)
	go func() {
		defer d.retiring.Done()
		rctx, cancel := context.WithTimeout(d.retireCtx, maxRetire)
		defer cancel()
		if err := oldSrv.Retire(rctx); err != nil {
			d.log.Warn("the previous configuration's sessions were cut", "err", err)
		}
		oldLd.Close()
	}()
	for _, w := range ld.Warnings {
		d.log.Warn("configuration", "warning", w)
	}
	d.log.Info("reloaded the configuration")
	return nil
}

// shutdown stops the current server gracefully within ctx, cuts the
// retiring ones, and closes the sockets.
func (d *relayd) shutdown(ctx context.Context) error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	d.mu.Lock()
	srv, ld := d.srv, d.ld
	d.mu.Unlock()
	err := srv.Shutdown(ctx)
	d.retireCancel()
	d.retiring.Wait()
	for _, h := range d.socks {
		h.Close()
	}
	ld.Close()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
