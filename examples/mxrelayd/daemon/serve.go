package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay"
	"github.com/mxrelay/mxrelay/relay/maincf"
)

// maxRetire bounds how long a retired configuration's sessions may run
// after a reload; each command is bounded by smtpd_timeout anyway.
const maxRetire = time.Hour

// listenGroup is the listening sockets that share one configuration: main.cf's
// own, or main.cf with one master.cf service's "-o" overrides, which
// apply to that service's listeners only, as Postfix applies them to
// that smtpd.
type listenGroup struct {
	service   string            // the master.cf service; "" for main.cf's own
	overrides []maincf.Override // applied over main.cf
	addrs     []string          // listen addresses, "host:port"
	socks     []*handoff

	ld  *relay.Loaded
	srv *relay.Server
}

// loader loads the configuration of a group: main.cf (read again on a
// reload) with its overrides; sched is the delivering group's queue for
// a group with overrides, nil for the delivering group itself.
type loader func(ctx context.Context, g *listenGroup, sched *queue.Scheduler) (*relay.Loaded, error)

// relayd is the running relay: its groups of listeners, each served by
// the server of its current configuration, and the servers of earlier
// configurations that are finishing their sessions. groups[0] is
// main.cf's own configuration: it delivers the mail every group
// receives, as Postfix's qmgr and smtp run on main.cf alone.
type relayd struct {
	base   context.Context // the daemon's: servers run under it, not a reload request's
	load   loader
	log    *slog.Logger
	failed chan error // a listening socket failed

	reloadMu sync.Mutex // one reload at a time
	mu       sync.Mutex
	groups   []*listenGroup

	retireCtx    context.Context // ends at shutdown: retiring servers are cut
	retireCancel context.CancelFunc
	retiring     sync.WaitGroup
}

// newRelayd loads every group and serves it on its sockets.
func newRelayd(ctx context.Context, groups []*listenGroup, load loader, log *slog.Logger) (*relayd, error) {
	d := &relayd{base: ctx, load: load, log: log, groups: groups, failed: make(chan error, 1)}
	d.retireCtx, d.retireCancel = context.WithCancel(context.WithoutCancel(ctx))
	lds, srvs, err := d.loadAll(ctx)
	if err != nil {
		return nil, err
	}
	for i, g := range groups {
		g.ld, g.srv = lds[i], srvs[i]
		d.serve(g)
	}
	return d, nil
}

// loadAll loads every group's configuration; on error, nothing is kept.
func (d *relayd) loadAll(ctx context.Context) ([]*relay.Loaded, []*relay.Server, error) {
	var lds []*relay.Loaded
	var srvs []*relay.Server
	undo := func() {
		for _, ld := range lds {
			ld.Close()
		}
	}
	var sched *queue.Scheduler
	for i, g := range d.groups {
		ld, err := d.load(ctx, g, sched)
		if err != nil {
			undo()
			if g.service != "" {
				err = fmt.Errorf("master.cf service %s: %w", g.service, err)
			}
			return nil, nil, err
		}
		lds = append(lds, ld)
		if i == 0 {
			sched = ld.MX.Queue()
		}
		srv, err := relay.NewServer(ld.Server)
		if err != nil {
			undo()
			return nil, nil, err
		}
		srvs = append(srvs, srv)
	}
	return lds, srvs, nil
}

// serve runs g's server on g's sockets.
func (d *relayd) serve(g *listenGroup) {
	srv := g.srv
	for _, h := range g.socks {
		go func() {
			if err := srv.Serve(d.base, h.share()); err != nil {
				select {
				case d.failed <- err:
				default: // one failure is enough to stop
				}
			}
		}()
	}
	if len(g.socks) == 0 {
		// The delivering group without sockets of its own still runs
		// its delivery workers, which Serve starts.
		go srv.Serve(d.base, newIdleListener())
	}
}

// scheduler is the delivering configuration's queue scheduler.
func (d *relayd) scheduler() *queue.Scheduler {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.groups[0].ld.MX.Queue()
}

// reload reads main.cf and its tables again and serves the new
// configuration: new sessions and deliveries follow it, sessions in
// progress finish on the old one (postfix reload). A configuration that
// fails to load keeps the running one; the error says why. ctx bounds
// the loading only.
func (d *relayd) reload(ctx context.Context) error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	lds, srvs, err := d.loadAll(ctx)
	if err != nil {
		d.log.Error("reload failed; the running configuration stays", "err", err)
		return err
	}
	type old struct {
		ld  *relay.Loaded
		srv *relay.Server
	}
	var olds []old
	d.mu.Lock()
	for i, g := range d.groups {
		olds = append(olds, old{g.ld, g.srv})
		g.ld, g.srv = lds[i], srvs[i]
	}
	d.mu.Unlock()
	for _, g := range d.groups {
		d.serve(g)
	}
	// The old servers stop taking connections now, not when their
	// retirement starts: a client that connects once the reload is
	// done gets the new configuration.
	for _, o := range olds {
		o.srv.StopAccepting()
	}
	for _, o := range olds {
		d.retiring.Add(1)
		go func() {
			defer d.retiring.Done()
			rctx, cancel := context.WithTimeout(d.retireCtx, maxRetire)
			defer cancel()
			if err := o.srv.Retire(rctx); err != nil {
				d.log.Warn("the previous configuration's sessions were cut", "err", err)
			}
			o.ld.Close()
		}()
	}
	for _, ld := range lds {
		for _, w := range ld.Warnings {
			d.log.Warn("configuration", "warning", w)
		}
	}
	d.log.Info("reloaded the configuration")
	return nil
}

// shutdown stops the current servers gracefully within ctx, cuts the
// retiring ones, and closes the sockets.
func (d *relayd) shutdown(ctx context.Context) error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	d.mu.Lock()
	groups := d.groups
	d.mu.Unlock()
	var errs []error
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.srv.Shutdown(ctx); err != nil && !errors.Is(err, net.ErrClosed) {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	d.retireCancel()
	d.retiring.Wait()
	for _, g := range groups {
		for _, h := range g.socks {
			h.Close()
		}
		g.ld.Close()
	}
	return errors.Join(errs...)
}

// idleListener accepts nothing until closed: it lets a server without
// sockets run its delivery workers until Shutdown.
type idleListener struct {
	closed chan struct{}
	once   sync.Once
}

func newIdleListener() *idleListener { return &idleListener{closed: make(chan struct{})} }

func (l *idleListener) Accept() (net.Conn, error) {
	<-l.closed
	return nil, net.ErrClosed
}

func (l *idleListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *idleListener) Addr() net.Addr { return &net.TCPAddr{} }
