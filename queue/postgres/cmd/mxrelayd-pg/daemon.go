package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/mxrelay/mxrelay/queue/postgres"
	"github.com/mxrelay/mxrelay/relay"
	"github.com/mxrelay/mxrelay/relay/maincf"
	"github.com/mxrelay/mxrelay/transport/client"
)

// hooks let tests learn where the daemon listens, reach next hops and
// feed the queue tools.
type hooks struct {
	ready  func(addr string)
	dialer client.Dialer
	stdin  io.Reader // the queue tools' standard input; nil: os.Stdin
}

// queueFlags are the flags that name the shared queue, for the daemon
// and the queue tools alike.
type queueFlags struct {
	url, prefix *string
	nodeTTL     *time.Duration
}

func addQueueFlags(fs *flag.FlagSet) queueFlags {
	return queueFlags{
		url:     fs.String("queue", "", "the queue's PostgreSQL connection string (postgres://user@host/db)"),
		prefix:  fs.String("prefix", "", "the queue's table prefix (default mxq_)"),
		nodeTTL: fs.Duration("node-ttl", 0, "how long the claims of a node that stopped renewing them last (default 30s)"),
	}
}

// open connects to the queue the flags name.
func (f queueFlags) open(ctx context.Context, log *slog.Logger) (*postgres.Queue, error) {
	if *f.url == "" {
		return nil, errors.New("-queue URL is required: the PostgreSQL connection string of the shared queue")
	}
	return postgres.Connect(ctx, *f.url, &postgres.Options{Prefix: *f.prefix, NodeTTL: *f.nodeTTL, Logger: log})
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, h *hooks) int {
	if len(args) > 0 && toolNames[args[0]] {
		stdin := io.Reader(os.Stdin)
		if h != nil && h.stdin != nil {
			stdin = h.stdin
		}
		return runTool(ctx, args[0], args[1:], stdin, stdout, stderr)
	}
	fs := flag.NewFlagSet("mxrelayd-pg", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "the Postfix main.cf (required)")
	listen := fs.String("listen", "0.0.0.0:25", "SMTP listen addresses, comma separated")
	hostname := fs.String("hostname", "", "$myhostname")
	dnsServer := fs.String("dns", "", "send every DNS query to this HOST:PORT")
	qf := addQueueFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "mxrelayd-pg: "+format+"\n", a...)
		return 1
	}
	if *config == "" {
		return fail("-config main.cf is required")
	}
	cf, err := maincf.Load(*config)
	if err != nil {
		return fail("%v", err)
	}
	if *hostname != "" {
		cf.Set("myhostname", *hostname)
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	q, err := qf.open(ctx, logger)
	if err != nil {
		return fail("opening the queue: %v", err)
	}
	defer q.Close()

	opts := relay.LoadOptions{Queue: q, Logger: logger}
	if *dnsServer != "" {
		opts.DNS = []string{*dnsServer}
	}
	if h != nil {
		opts.Dialer = h.dialer
	}
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var lc net.ListenConfig
	for _, a := range strings.Split(*listen, ",") {
		ap, err := netip.ParseAddrPort(strings.TrimSpace(a))
		if err != nil {
			return fail("-listen %q: want IP:PORT[,IP:PORT...]: %v", *listen, err)
		}
		opts.Listen = append(opts.Listen, ap.Addr())
		l, err := lc.Listen(ctx, "tcp", ap.String())
		if err != nil {
			return fail("%v", err)
		}
		ls = append(ls, l)
	}
	ld, err := relay.Load(ctx, cf, opts)
	if err != nil {
		return fail("%v", err)
	}
	defer ld.Close()
	for _, w := range ld.Warnings {
		logger.Warn("configuration", "warning", w)
	}
	srv, err := relay.NewServer(ld.Server)
	if err != nil {
		return fail("%v", err)
	}
	failed := make(chan error, len(ls))
	for _, l := range ls {
		go func() { failed <- srv.Serve(ctx, l) }()
	}
	var addrs []string
	for _, l := range ls {
		addrs = append(addrs, l.Addr().String())
	}
	fmt.Fprintf(stdout, "mxrelayd-pg: %s listening on %s, queue %s\n", cf.Get("myhostname"), strings.Join(addrs, ", "), q.Name())
	if h != nil && h.ready != nil {
		h.ready(addrs[0])
	}
	var serveErr error
	select {
	case serveErr = <-failed:
	case <-ctx.Done():
		fmt.Fprintln(stdout, "mxrelayd-pg: shutting down; the queue stays in the database")
	}
	// As examples/mxrelayd: the message being received gets 30 seconds;
	// deliveries cut then stay queued, and another node takes them once
	// this node's claims expire (-node-ttl).
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	shutdownErr := srv.Shutdown(sctx)
	if serveErr != nil && !errors.Is(serveErr, net.ErrClosed) {
		return fail("%v", serveErr)
	}
	if shutdownErr != nil && !errors.Is(shutdownErr, context.DeadlineExceeded) && !errors.Is(shutdownErr, net.ErrClosed) {
		return fail("shutdown: %v", shutdownErr)
	}
	return 0
}
