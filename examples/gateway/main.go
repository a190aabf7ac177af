// Command gateway is a bespoke inbound mail gateway built on mxrelay: it
// mounts the relay package's go-smtp Backend in its own smtp.Server,
// accepts mail for its domains only for the recipients an HTTP directory
// service knows (a lookup.Table written in Go), queues it on disk and
// relays it to an internal mail server.
//
//	go run ./examples/gateway -domains example.com \
//		-directory http://directory.internal/recipients -nexthop '[192.0.2.25]:25'
//
// The directory is asked "GET URL?address=alice@example.com" and answers
// {"exists": true} or {"exists": false}; when it cannot be reached or does
// not answer in time the recipient gets "451 4.3.0 Temporary lookup
// failure" and the sender retries later: an outage never bounces mail.
//
// Without -directory the gateway starts a demo directory on 127.0.0.1
// that knows alice@ and bob@ of the first domain.
//
// Flags:
//
//	-listen ADDR          SMTP listen address (default 127.0.0.1:2527)
//	-domains LIST         the domains accepted, as relay_domains (default example.test)
//	-directory URL        the recipient directory (default: a demo one)
//	-lookup-timeout D     bound on one directory lookup (default 5s)
//	-cache-ttl D          remember existing recipients this long (default 5m; 0: no cache)
//	-negative-cache-ttl D remember unknown recipients this long (default 30s)
//	-nexthop NEXTHOP      the internal server, Postfix nexthop syntax (default [127.0.0.1]:2525,
//	                      where the mxrelayd demo listens)
//	-recipient-delimiter C  recipient_delimiter (default +)
//	-mynetworks LIST      clients allowed to relay anywhere (default none)
//	-queue DIR            the queue directory (default: a new temporary one)
//	-hostname NAME        $myhostname
//	-dns HOST:PORT        the DNS server for MX lookups (default /etc/resolv.conf's)
//
// SIGINT and SIGTERM shut it down gracefully; the queue stays on disk and
// is delivered at the next start with the same -queue.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/queue"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, nil))
}

// hooks let tests learn the listening address.
type hooks struct {
	ready func(addr string)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, h *hooks) int {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:2527", "SMTP listen address")
	domains := fs.String("domains", "example.test", "the domains accepted, as relay_domains")
	directory := fs.String("directory", "", "the recipient directory URL (default: a demo directory on 127.0.0.1)")
	lookupTimeout := fs.Duration("lookup-timeout", 5*time.Second, "bound on one directory lookup")
	nexthop := fs.String("nexthop", "[127.0.0.1]:2525", "the internal mail server, in Postfix nexthop syntax")
	cacheTTL := fs.Duration("cache-ttl", 5*time.Minute, "how long an existing recipient is remembered (0: no cache)")
	negativeTTL := fs.Duration("negative-cache-ttl", 30*time.Second, "how long an unknown recipient is remembered")
	delimiter := fs.String("recipient-delimiter", "+", "recipient_delimiter: alice+news@ is alice@")
	mynetworks := fs.String("mynetworks", "", "clients allowed to relay to any domain")
	queueDir := fs.String("queue", "", "queue directory (default: a new temporary one)")
	hostname := fs.String("hostname", "", "$myhostname")
	dnsServer := fs.String("dns", "", "send DNS queries to this HOST:PORT")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "gateway: "+format+"\n", a...)
		return 1
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))

	doms := lookup.SplitList(*domains)
	if len(doms) == 0 {
		return fail("-domains is empty")
	}
	dirURL := *directory
	if dirURL == "" {
		known := []string{"alice@" + doms[0], "bob@" + doms[0]}
		demo, err := startDemoDirectory(known)
		if err != nil {
			return fail("demo directory: %v", err)
		}
		defer demo.Close()
		dirURL = demo.url
		fmt.Fprintf(stdout, "gateway: demo directory at %s knows %s\n", dirURL, strings.Join(known, ", "))
	}

	dir := *queueDir
	var err error
	if dir == "" {
		if dir, err = os.MkdirTemp("", "gateway-queue-"); err != nil {
			return fail("%v", err)
		}
	}
	spool, err := queue.OpenSpool(ctx, dir, &queue.SpoolOptions{Logger: logger})
	if err != nil {
		return fail("opening the queue: %v", err)
	}
	defer spool.Close()

	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", *listen)
	if err != nil {
		return fail("%v", err)
	}
	var recipients lookup.Table = &Directory{URL: dirURL, Timeout: *lookupTimeout}
	if *cacheTTL > 0 {
		if *negativeTTL == 0 {
			*negativeTTL = -1 // flag 0: no negative caching (Cache's 0 is its default)
		}
		recipients = &Cache{Table: recipients, TTL: *cacheTTL, NegativeTTL: *negativeTTL}
	}
	c := Config{
		Hostname:           *hostname,
		Domains:            *domains,
		Recipients:         recipients,
		NextHop:            *nexthop,
		RecipientDelimiter: *delimiter,
		MyNetworks:         *mynetworks,
		Queue:              spool,
		Logger:             logger,
	}
	if *dnsServer != "" {
		c.DNS = []string{*dnsServer}
	}
	g, err := Start(ctx, c, l)
	if err != nil {
		l.Close()
		return fail("%v", err)
	}
	fmt.Fprintf(stdout, "gateway: %s listening on %s, queue %s, relaying to %s\n  %s\n",
		g.Hostname(), g.Addr(), dir, *nexthop, strings.Join(g.MainCF(), "\n  "))
	if *directory == "" {
		fmt.Fprintf(stdout, "try: swaks --server %s --from you@sender.example --to alice@%s\n", g.Addr(), doms[0])
	}
	if h != nil && h.ready != nil {
		h.ready(g.Addr().String())
	}

	<-ctx.Done()
	fmt.Fprintln(stdout, "gateway: shutting down; the queue stays in", dir)
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := g.Shutdown(sctx); err != nil {
		return fail("shutdown: %v", err)
	}
	return 0
}

// directoryHandler serves the directory protocol Directory speaks, from a
// fixed list: "GET ?address=KEY" answers {"exists": true|false}.
func directoryHandler(known []string) http.Handler {
	set := make(map[string]bool, len(known))
	for _, k := range known {
		set[strings.ToLower(k)] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			http.Error(w, "GET only", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]bool{"exists": set[strings.ToLower(r.URL.Query().Get("address"))]})
	})
}

// demoDirectory is the directory the gateway starts without -directory.
type demoDirectory struct {
	url string
	srv *http.Server
}

func startDemoDirectory(known []string) (*demoDirectory, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: directoryHandler(known), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	return &demoDirectory{url: "http://" + l.Addr().String() + "/recipients", srv: srv}, nil
}

func (d *demoDirectory) Close() error { return d.srv.Close() }
