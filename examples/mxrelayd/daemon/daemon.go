// Package daemon is mxrelayd, the primary or backup MX daemon of
// examples/mxrelayd, as a library: Main runs it with a command line, as
// the command does, and MainWith lets another module's command link in
// what the root module must not: table drivers of the lookup/* modules
// (Options.Types), and queues that -queue names by URL (Options.Queues,
// a QueueType: queue/postgres/pgdaemon's for postgres://...). The
// command's documentation (flags, queue tools, reload) is that of
// examples/mxrelayd.
//
//	// a main package of a module that requires lookup/pgsql and
//	// queue/postgres:
//	func main() {
//		os.Exit(daemon.MainWith(os.Args[1:], daemon.Options{
//			Types:  map[string]lookup.OpenFunc{"pgsql": pgsql.Open},
//			Queues: []daemon.QueueType{pgdaemon.Type()},
//		}))
//	}
//
// With a queue named by URL, the daemon keeps its own files (the control
// socket of "reload" and of the queue tools given -config, and the verify
// cache) in $queue_directory/mxrelay, and the queue tools given the URL
// open the shared queue themselves.
package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay"
	"github.com/mxrelay/mxrelay/relay/maincf"
	"github.com/mxrelay/mxrelay/relay/metrics"
	"github.com/mxrelay/mxrelay/transport/client"
)

// Options adds to the daemon what its command links in.
type Options struct {
	// Types are table types beyond lookup's built-ins, by type name
	// ({"pgsql": pgsql.Open}): main.cf's tables of these types open;
	// other unknown types are refused, named.
	Types map[string]lookup.OpenFunc
	// Queues are queue backends beyond the directory spool, which
	// -queue names by URL scheme (queue/postgres/pgdaemon.Type for
	// postgres://...): the daemon and the queue tools open such a
	// -queue with its type; a URL of a scheme none has is refused.
	Queues []QueueType
}

// Main runs mxrelayd with the command line args (without the program
// name) and returns its exit status: SIGINT and SIGTERM stop it
// gracefully, SIGHUP reloads its configuration.
func Main(args []string) int { return MainWith(args, Options{}) }

// MainWith is Main with Options.
func MainWith(args []string, o Options) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// SIGHUP reloads main.cf and its tables, as "postfix reload".
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	reload := make(chan struct{})
	go func() {
		for range hup {
			reload <- struct{}{}
		}
	}()
	return run(ctx, args, os.Stdout, os.Stderr, &hooks{reload: reload, types: o.Types, queues: o.Queues})
}

// demoRecipients returns the recipients of the demo's embedded table.
func demoRecipients() []string { return []string{"alice@example.test", "bob@example.test"} }

// demoMainCF is the demo's configuration: a backup MX for example.test.
func demoMainCF(primary string) string {
	var tab []string
	for _, r := range demoRecipients() {
		tab = append(tab, r+"=OK")
	}
	return fmt.Sprintf(`compatibility_level = 3.6
myhostname = mx2.example.test
mydestination =
# Nobody is trusted: local clients get the answers Internet clients get.
mynetworks =
relay_domains = example.test
relay_recipient_maps = inline:{ %s }
transport_maps = inline:{ example.test=relay:[%s]:%s }
inet_interfaces = 127.0.0.1
# The demo asks no DNS server about its clients' names (the machine's
# resolver is not the demo's business).
smtpd_peername_lookup = no
# Retry soon, so that a primary that comes back gets the mail quickly.
minimal_backoff_time = 10s
maximal_backoff_time = 60s
`, strings.Join(tab, ", "), hostOf(primary), portOf(primary))
}

func hostOf(addr string) string {
	h, _, _ := net.SplitHostPort(addr)
	return h
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// hooks lets tests learn the listening address and reach next hops on
// port 25 of test addresses.
type hooks struct {
	ready   func(addr string)
	metrics func(addr string) // where -metrics listens
	dialer  client.Dialer
	stdin   io.Reader       // the queue tools' standard input; nil: os.Stdin
	reload  <-chan struct{} // each value reloads the configuration (SIGHUP)
	types   map[string]lookup.OpenFunc
	queues  []QueueType
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, h *hooks) int {
	var queues []QueueType
	if h != nil {
		queues = h.queues
	}
	if len(args) > 0 && toolNames[args[0]] {
		stdin := io.Reader(os.Stdin)
		if h != nil && h.stdin != nil {
			stdin = h.stdin
		}
		name, rest := args[0], args[1:]
		if name == "mailq" {
			name, rest = "postqueue", append([]string{"-p"}, rest...)
		}
		return runTool(ctx, name, rest, queues, stdin, stdout, stderr)
	}
	fs := flag.NewFlagSet("mxrelayd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "a Postfix main.cf; without it, the demo")
	listen := fs.String("listen", "127.0.0.1:2525", "SMTP listen address(es), comma separated (with -config, default: master.cf's smtpd services, else port 25 of inet_interfaces)")
	qf := addQueueFlags(fs, queueUsage(queues), queues)
	hostname := fs.String("hostname", "", "$myhostname")
	dnsServer := fs.String("dns", "", "send every DNS query to this HOST:PORT")
	statusLog := fs.String("status-log", "", "append one JSON line per delivery attempt per recipient to this file")
	check := fs.Bool("check", false, "sort main.cf's parameters into used, ignored, not implemented and unknown, load it, print the warnings, and exit non-zero if mxrelayd would refuse it")
	accept := fs.String("accept-unimplemented", "", "comma-separated main.cf parameters that turn on Postfix features mxrelay does not implement, which you accept are not honoured (\"all\" for every one); without it such a main.cf is refused")
	demoPrimary := fs.String("demo-primary", "127.0.0.1:2526", "the demo's primary MX")
	logFlags := addLogFlags(fs)
	metricsAddr := fs.String("metrics", "", "serve Prometheus metrics at http://ADDR/metrics (HOST:PORT)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof)")
	mutexProfile := fs.String("mutexprofile", "", "write a mutex contention profile of the whole run to this file at exit (go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *cpuProfile != "" || *mutexProfile != "" {
		stopProfiles, err := startProfiles(*cpuProfile, *mutexProfile)
		if err != nil {
			fmt.Fprintf(stderr, "mxrelayd: %v\n", err)
			return 1
		}
		defer func() {
			if err := stopProfiles(); err != nil {
				fmt.Fprintf(stderr, "mxrelayd: profile: %v\n", err)
			}
		}()
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "mxrelayd: "+format+"\n", a...)
		return 1
	}
	if err := logFlags.check(); err != nil {
		fmt.Fprintf(stderr, "mxrelayd: %v\n", err)
		return 2
	}
	queueURL, err := qf.url()
	if err != nil {
		return fail("%v", err)
	}

	// The configuration.
	demo := *config == ""
	var cf *maincf.File
	var standIn *standInPrimary
	primary := *demoPrimary
	if demo {
		if !*check && !listening(primary) {
			standIn, err = startStandIn(primary, stdout)
			if err != nil {
				return fail("starting the stand-in primary on %s: %v", primary, err)
			}
			defer standIn.Close()
			primary = standIn.addr
		}
		cf, err = maincf.Parse(strings.NewReader(demoMainCF(primary)), "demo main.cf")
	} else {
		cf, err = maincf.Load(*config)
	}
	if err != nil {
		return fail("%v", err)
	}
	if *hostname != "" {
		cf.Set("myhostname", *hostname)
	}
	logger, closeLog, err := logFlags.open(stderr, cf.Get("myhostname"), cf.Get("syslog_name"))
	if err != nil {
		return fail("%v", err)
	}
	defer closeLog()
	listens := strings.Split(*listen, ",")
	opts := relay.LoadOptions{Logger: logger}
	if *accept != "" {
		opts.AcceptUnimplemented = strings.Split(*accept, ",")
	}
	for _, a := range listens {
		ap, err := netip.ParseAddrPort(strings.TrimSpace(a))
		if err != nil {
			return fail("-listen %q: want IP:PORT[,IP:PORT...]: %v", *listen, err)
		}
		opts.Listen = append(opts.Listen, ap.Addr())
	}
	if *dnsServer != "" {
		opts.DNS = []string{*dnsServer}
	}
	if h != nil {
		opts.Dialer = h.dialer
		opts.Types = h.types
	}

	if *check {
		opts.Queue = queue.NewMemory()
		status, err := runCheck(ctx, cf, opts, stdout)
		if err != nil {
			fail("%v", err)
		}
		return status
	}

	// The queue: only the demo runs on a temporary one (its banner says
	// so); with -config it is under queue_directory unless -queue says.
	// A queue named by URL is elsewhere (a database): dir then holds
	// this node's own files only, the control socket and the verify
	// cache.
	dir := *qf.value
	switch {
	case queueURL && demo, dir == "" && demo:
		if dir, err = os.MkdirTemp("", "mxrelayd-queue-"); err != nil {
			return fail("%v", err)
		}
	case queueURL, dir == "":
		dir = filepath.Join(cf.Get("queue_directory"), queueSubdir)
	}
	if queueURL && demo {
		defer os.RemoveAll(dir)
	}
	queueName := dir
	if queueURL {
		q, err := qf.open(ctx, QueueOptions{Logger: logger})
		if err != nil {
			return fail("opening the queue: %v", err)
		}
		defer q.Close()
		if err := markNodeDir(dir, q.Name); err != nil {
			return fail("%v", err)
		}
		opts.Queue, queueName = q.Queue, q.Name
	} else {
		spool, err := queue.OpenSpool(ctx, dir, &queue.SpoolOptions{Logger: logger})
		if err != nil {
			return fail("opening the queue: %v", err)
		}
		defer spool.Close()
		opts.Queue = spool
		// The directory may have been a node's of a shared queue: the
		// mail is here now.
		if err := unmarkNodeDir(dir); err != nil {
			return fail("%v", err)
		}
	}
	// Address verification answers survive a restart (Postfix keeps them in
	// address_verify_map, a btree under data_directory).
	opts.VerifyCache = filepath.Join(dir, "verify_cache")

	var obs observers
	if *statusLog != "" {
		sl, err := openStatusLog(*statusLog)
		if err != nil {
			return fail("%v", err)
		}
		defer sl.Close()
		obs = append(obs, relay.ObserverFuncs{AttemptedFunc: sl.write})
	}
	if *metricsAddr != "" {
		m := metrics.New(&metrics.Options{Queue: opts.Queue})
		ms, err := startMetrics(ctx, *metricsAddr, m)
		if err != nil {
			return fail("%v", err)
		}
		defer ms.Close()
		if h != nil && h.metrics != nil {
			h.metrics(ms.Addr())
		}
		obs = append(obs, m)
	}
	if len(obs) > 0 {
		opts.Observer = obs
	}

	// Where to listen: -listen, else master.cf's smtpd services (with
	// their -o overrides), else port 25 of inet_interfaces.
	groups := []*listenGroup{{addrs: listens}}
	if !demo && !flagGiven(fs, "listen") {
		if groups, err = listenerGroups(cf); err != nil {
			return fail("%v", err)
		}
	}
	var lc net.ListenConfig
	var ls []net.Listener
	closeAll := func() {
		for _, l := range ls {
			l.Close()
		}
	}
	for _, g := range groups {
		for _, a := range g.addrs {
			l, err := lc.Listen(ctx, "tcp", strings.TrimSpace(a))
			if err != nil {
				closeAll()
				return fail("%v", err)
			}
			ls = append(ls, l)
			g.socks = append(g.socks, newHandoff(l))
		}
	}
	if len(ls) == 0 {
		return fail("nothing to listen on")
	}
	// loadGroup reads main.cf (again, on a reload, as postfix reload
	// does), applies a group's overrides, and loads it with the same
	// flags, queue and observers.
	loadGroup := func(ctx context.Context, g *listenGroup, sched *queue.Scheduler) (*relay.Loaded, error) {
		gcf := cf
		if !demo {
			if gcf, err = maincf.Load(*config); err != nil {
				return nil, err
			}
			if *hostname != "" {
				gcf.Set("myhostname", *hostname)
			}
		}
		for _, o := range g.overrides {
			gcf.Set(o.Name, o.Value)
		}
		gopts := opts
		gopts.Scheduler = sched
		if len(g.addrs) > 0 {
			gopts.Listen = listenAddrs(g.addrs)
		}
		return relay.Load(ctx, gcf, gopts)
	}
	d, err := newRelayd(ctx, groups, loadGroup, logger)
	if err != nil {
		closeAll()
		return fail("%v", err)
	}
	for _, g := range groups {
		for _, w := range g.ld.Warnings {
			logger.Warn("configuration", "service", g.service, "warning", w)
		}
		for _, p := range g.ld.Params {
			switch p.Kind {
			case maincf.Unknown, maincf.Unimplemented:
				logger.Warn("configuration", "service", g.service, "param", p.Name, "line", p.Line, "kind", p.Kind.String(), "detail", p.String())
			}
		}
	}
	stopControl, err := serveControl(ctx, dir, d, logger)
	if err != nil {
		d.shutdown(ctx)
		return fail("%v", err)
	}
	defer stopControl()
	if h != nil && h.reload != nil {
		go func() {
			for {
				select {
				case <-h.reload:
					d.reload(ctx)
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	addr := ls[0].Addr().String()
	if demo {
		queueArg := dir
		if queueURL {
			queueArg = *qf.value
		}
		printBanner(stdout, addr, queueName, *qf.value == "", queueURL, primary, cf, standIn, restartCommand(fs, queueArg))
	} else {
		var all []string
		for _, l := range ls {
			all = append(all, l.Addr().String())
		}
		fmt.Fprintf(stdout, "mxrelayd: %s listening on %s, queue %s\n", cf.Get("myhostname"), strings.Join(all, ", "), queueName)
	}
	if h != nil && h.ready != nil {
		h.ready(addr)
	}

	var serveErr error
	select {
	case serveErr = <-d.failed:
	case <-ctx.Done():
		fmt.Fprintln(stdout, "mxrelayd: shutting down; the queue stays in", queueName)
	}
	// Shutdown is bounded, also when a listener failed: the message being
	// received gets 30 seconds, then what is left is cut (nothing answered
	// 250 is lost).
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	shutdownErr := d.shutdown(sctx)
	if serveErr != nil {
		return fail("%v", serveErr)
	}
	if errors.Is(shutdownErr, context.DeadlineExceeded) {
		// Deliveries still running were cut: nothing is lost, they stay
		// queued and are retried at the next start.
		fmt.Fprintln(stdout, "mxrelayd: deliveries in progress were cut after 30s; they stay queued and are retried at the next start")
		return 0
	}
	if shutdownErr != nil {
		return fail("shutdown: %v", shutdownErr)
	}
	return 0
}

// restartCommand is the command that starts this mxrelayd again on the
// same queue: the flags the user passed (-queue set to dir), after
// "go run ./examples/mxrelayd" when it runs under go run (whose binary is
// gone once it exits), else the path it was started as.
func restartCommand(fs *flag.FlagSet, dir string) string {
	cmd := []string{os.Args[0]}
	if exe, err := os.Executable(); err != nil || strings.Contains(exe, string(os.PathSeparator)+"go-build") {
		cmd = []string{"go", "run", "./examples/mxrelayd"}
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name != "queue" {
			cmd = append(cmd, "-"+f.Name, shellQuote(f.Value.String()))
		}
	})
	return strings.Join(append(cmd, "-queue", shellQuote(dir)), " ")
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func printBanner(w io.Writer, addr, dir string, tempQueue, shared bool, primary string, cf *maincf.File, standIn *standInPrimary, restart string) {
	kept := "on disk"
	if shared {
		kept = "in the shared queue"
	}
	primary = "[" + hostOf(primary) + "]:" + portOf(primary)
	if tempQueue {
		dir += " (a new temporary directory: only the demo does this; -queue DIR reuses one)"
	}
	primaryNote := "an SMTP server already listening there"
	if standIn != nil {
		primaryNote = "a stand-in primary started by this demo; it prints each message it receives"
	}
	fmt.Fprintf(w, `mxrelayd demo: a backup MX for example.test, run by package relay

  listening    %s (SMTP), as %s
  queue        %s
  relays to    %s (%s)
  recipients   %s
  everything else in example.test is refused (550 5.1.1 User unknown in relay
  recipient table), other domains too (454 4.7.1 Relay access denied).

Send a test message with swaks:

  swaks --server %s --from you@sender.example --to %s

or with a few lines of Go:

  err := smtp.SendMail("%s", nil, "you@sender.example",
      []string{"%s"}, []byte("Subject: hello\r\n\r\nIt works.\r\n")) // net/smtp

Stop with Ctrl-C: the queue stays %s and is delivered at the next start,
with the same flags and this queue:

  %s
`, addr, cf.Get("myhostname"), dir, primary, primaryNote, strings.Join(demoRecipients(), ", "),
		addr, demoRecipients()[0], addr, demoRecipients()[0], kept, restart)
}

// listening reports whether something accepts TCP connections at addr.
func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// standInPrimary is the demo's primary MX: it accepts everything within
// modest limits and prints it.
type standInPrimary struct {
	addr   string
	srv    *smtp.Server
	served chan struct{} // closed when Serve has returned
}

func startStandIn(addr string, out io.Writer) (*standInPrimary, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &standInSession{out: out, mu: &mu}, nil
	}))
	srv.Domain = "primary.example.test"
	srv.EnableDSN = true
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = log.New(io.Discard, "", 0)
	// Anything on this machine can connect: cap what it holds in memory.
	srv.MaxMessageBytes = 10240000
	srv.MaxRecipients = 1000
	srv.ReadTimeout = 300 * time.Second
	srv.WriteTimeout = 300 * time.Second
	p := &standInPrimary{addr: l.Addr().String(), srv: srv, served: make(chan struct{})}
	go func() {
		defer close(p.served)
		srv.Serve(l)
	}()
	return p, nil
}

// Close stops the stand-in and waits for its server to return.
func (p *standInPrimary) Close() error {
	err := p.srv.Close()
	<-p.served
	return err
}

type standInSession struct {
	out  io.Writer
	mu   *sync.Mutex
	from string
	to   []string
}

func (s *standInSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from, s.to = from, nil
	return nil
}

func (s *standInSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *standInSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.out, "\n--- stand-in primary received a message from <%s> for <%s> ---\n%s--- end of message ---\n",
		s.from, strings.Join(s.to, ">, <"), strings.ReplaceAll(string(b), "\r\n", "\n"))
	return nil
}

func (s *standInSession) Reset()        {}
func (s *standInSession) Logout() error { return nil }

// statusLog appends one JSON object per delivery attempt per recipient.
type statusLog struct {
	mu sync.Mutex
	f  *os.File
}

func openStatusLog(path string) (*statusLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &statusLog{f: f}, nil
}

type statusLine struct {
	QueueID string `json:"queue_id"`
	Rcpt    string `json:"rcpt"`
	Status  string `json:"status"`
	DSN     string `json:"dsn"`
	Relay   string `json:"relay"`
	Reason  string `json:"reason"`
}

func (s *statusLog) write(a relay.Attempt) {
	status := a.Status
	if status == "discarded" {
		status = "sent"
	}
	b, err := json.Marshal(statusLine{QueueID: a.QueueID, Rcpt: a.Recipient, Status: status, DSN: a.DSN, Relay: a.Relay, Reason: a.Reason})
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.f.Write(append(b, '\n'))
}

func (s *statusLog) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.f.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return err
	}
	return nil
}
