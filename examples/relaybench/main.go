// Command relaybench measures mxrelayd against Postfix 3.7 on the same
// machine and the same relay configuration: a backup MX for dst.test with
// a 1,000-entry relay_recipient_maps, relaying to a counting sink on
// loopback, loaded by Postfix's smtp-source. Each system runs alone, one
// after the other, and the report gives per system the messages accepted
// and relayed per second, CPU seconds per message, memory, and the
// connections opened to the next hop, with the ratios.
//
// As root on Debian with postfix installed (Postfix's smtp-source and a
// private Postfix instance need them), from the repository:
//
//	go run ./examples/relaybench -sessions 20 -messages 5000 -size 2048
//	go run ./examples/relaybench -sessions 100 -messages 2000 -size 102400 -systems mxrelayd
//	go run ./examples/relaybench -idle 1000
//
// -idle N measures instead the resident memory of N idle SMTP connections
// (connected, greeted, silent), per connection.
//
// Nothing leaves loopback; mxrelayd gets no DNS server (-dns 127.0.0.1:1)
// and Postfix none it needs (transport_maps names the next hop).
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

func main() {
	if err := bench(); err != nil {
		log.Fatal(err)
	}
}

func bench() error {
	sessions := flag.Int("sessions", 20, "concurrent smtp-source sessions")
	messages := flag.Int("messages", 5000, "messages to send")
	size := flag.Int("size", 2048, "message size in bytes")
	systems := flag.String("systems", "postfix,mxrelayd", "systems to measure, in order")
	work := flag.String("dir", "", "work directory (default: a new temporary one)")
	fsyncs := flag.Bool("fsyncs", false, "count fsync(2) and fdatasync(2) calls with strace (slows both systems)")
	mxFlags := flag.String("mxrelayd-flags", "", "more flags for mxrelayd, space-separated (e.g. \"-cpuprofile /tmp/cpu -mutexprofile /tmp/mutex\")")
	deferred := flag.Bool("deferred", false, "the next hop defers every message (450 at RCPT): measure the memory that many deferred messages take")
	idleConns := flag.Int("idle", 0, "instead of a load, open this many SMTP connections, read their greetings and measure the memory they hold")
	flag.Parse()
	dir := *work
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "relaybench-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		// Postfix's processes run as postfix and must reach their files
		// below it (MkdirTemp makes it 0700).
		if err := os.Chmod(dir, 0o755); err != nil {
			return err
		}
	}
	sink, err := startSink()
	if err != nil {
		return err
	}
	defer sink.srv.Close()
	sink.deferAll = *deferred
	var results []result
	var idles []idleResult
	for _, name := range strings.Split(*systems, ",") {
		sys, ok := systemsByName[name]
		if !ok {
			return fmt.Errorf("unknown system %q (postfix, mxrelayd)", name)
		}
		if *idleConns > 0 {
			r, err := idle(sys, filepath.Join(dir, name), sink, *idleConns)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			idles = append(idles, r)
			continue
		}
		r, err := run(sys, filepath.Join(dir, name), sink, *sessions, *messages, *size, *fsyncs, strings.Fields(*mxFlags))
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		results = append(results, r)
	}
	if *idleConns > 0 {
		reportIdle(os.Stdout, idles)
		return nil
	}
	report(os.Stdout, results, *sessions, *messages, *size)
	return nil
}

// result is one system's figures.
type result struct {
	name              string
	acceptS, endS     float64 // seconds until every message was accepted, relayed
	cpuS              float64 // CPU seconds the system used
	rssKiB            int64   // peak (mxrelayd) or summed (Postfix) resident memory
	conns             int64   // connections opened to the next hop
	messages, relayed int64
	syncs             int64         // fsync and fdatasync calls; -1: not counted
	p50, p99          time.Duration // end of data to 250, sampled beside the load
	samples           int
}

// system starts one MTA listening at listen with the benchmark's relay
// configuration, relaying to sink; stop ends it; usage reports CPU and
// memory.
type system struct {
	start func(dir, listen, sink string, mxFlags []string) (proc, error)
}

type proc interface {
	usage() (cpu float64, rssKiB int64)
	current() (rssKiB int64) // resident memory now
	pids() []int             // the processes to trace: the daemon and its children
	stop()
}

var systemsByName = map[string]system{"postfix": {startPostfix}, "mxrelayd": {startMxrelayd}}

// mainCF is the relay configuration both systems run.
func mainCF(dir, sink string) string {
	host, port, _ := net.SplitHostPort(sink)
	return fmt.Sprintf(`compatibility_level = 3.6
myhostname = mx2.bench.test
mydestination =
mynetworks = 127.0.0.0/8
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
alias_maps =
relay_domains = dst.test
relay_recipient_maps = texthash:%s/recipients
transport_maps = inline:{ dst.test=relay:[%s]:%s }
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
# No client name lookups: mxrelayd has no DNS server here, and Postfix's
# would be /etc/hosts; neither should time the resolver.
smtpd_peername_lookup = no
`, dir, host, port)
}

func writeRecipients(dir string) error {
	var b strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&b, "user%d@dst.test OK\n", i)
	}
	return os.WriteFile(filepath.Join(dir, "recipients"), []byte(b.String()), 0o644)
}

// run measures one system.
func run(sys system, dir string, sink *sink, sessions, messages, size int, fsyncs bool, mxFlags []string) (result, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return result{}, err
	}
	if err := writeRecipients(dir); err != nil {
		return result{}, err
	}
	listen, err := freeAddr()
	if err != nil {
		return result{}, err
	}
	p, err := sys.start(dir, listen, sink.addr, mxFlags)
	if err != nil {
		return result{}, err
	}
	defer p.stop()
	if err := waitListening(listen, 30*time.Second); err != nil {
		return result{}, err
	}
	var trace *syncTrace
	if fsyncs {
		if trace, err = startSyncTrace(p.pids(), filepath.Join(dir, "strace.txt")); err != nil {
			return result{}, err
		}
	}
	cpu0, _ := p.usage()
	msgs0, conns0, rcpts0 := sink.msgs.Load(), sink.conns.Load(), sink.rcpts.Load()
	probe := startLatencyProbe(listen, size)
	start := time.Now()
	src := exec.Command("smtp-source", "-s", fmt.Sprint(sessions), "-m", fmt.Sprint(messages), "-l", fmt.Sprint(size),
		"-f", "sender@src.test", "-t", "user1@dst.test", listen)
	if out, err := src.CombinedOutput(); err != nil {
		return result{}, fmt.Errorf("smtp-source: %v: %s", err, out)
	}
	accept := time.Since(start).Seconds()
	p50, p99, samples, perr := probe.finish()
	if perr != nil {
		return result{}, fmt.Errorf("latency probe: %w", perr)
	}
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		want := int64(messages + samples) // the probe's messages are relayed too
		if sink.deferAll && sink.rcpts.Load()-rcpts0 >= want || !sink.deferAll && sink.msgs.Load()-msgs0 >= want {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	end := time.Since(start).Seconds()
	cpu1, rss := p.usage()
	// Relayed: messages the sink took, or with -deferred the first
	// attempts it deferred (one recipient each); the probe's are not
	// counted.
	relayed := sink.msgs.Load() - msgs0
	if sink.deferAll {
		relayed = sink.rcpts.Load() - rcpts0
	}
	relayed -= int64(samples)
	r := result{name: filepath.Base(dir), acceptS: accept, endS: end, cpuS: cpu1 - cpu0, rssKiB: rss,
		conns: sink.conns.Load() - conns0, messages: int64(messages), relayed: relayed, syncs: -1,
		p50: p50, p99: p99, samples: samples}
	if trace != nil {
		if r.syncs, err = trace.stop(); err != nil {
			return result{}, err
		}
	}
	return r, nil
}

func report(w io.Writer, rs []result, sessions, messages, size int) {
	fmt.Fprintf(w, "%d messages of %d bytes, %d smtp-source sessions, relayed to a counting sink on loopback\n", messages, size, sessions)
	fmt.Fprintf(w, "(with -deferred the sink defers every message: relayed/s counts first attempts, memory is with all of them queued)\n\n")
	fmt.Fprintf(w, "%-9s %12s %12s %14s %12s %12s %9s %10s %20s\n", "system", "accepted/s", "relayed/s", "CPU ms/msg", "memory KiB", "next-hop", "relayed", "fsyncs/msg", "250 after data p50/p99")
	for _, r := range rs {
		syncs := "-"
		if r.syncs >= 0 {
			syncs = fmt.Sprintf("%.2f", float64(r.syncs)/float64(r.messages))
		}
		fmt.Fprintf(w, "%-9s %12.0f %12.0f %14.3f %12d %12d %9d %10s %20s\n", r.name, float64(r.messages)/r.acceptS, float64(r.relayed)/r.endS,
			1000*r.cpuS/float64(r.messages), r.rssKiB, r.conns, r.relayed, syncs,
			fmt.Sprintf("%.1f/%.1f ms (%d)", float64(r.p50.Microseconds())/1000, float64(r.p99.Microseconds())/1000, r.samples))
	}
	if len(rs) == 2 && rs[0].name == "postfix" {
		p, m := rs[0], rs[1]
		fmt.Fprintf(w, "\nmxrelayd/postfix: accepted %.2fx", p.acceptS/m.acceptS)
		if p.relayed > 0 && m.relayed > 0 {
			fmt.Fprintf(w, ", relayed %.2fx", p.endS/m.endS)
		}
		fmt.Fprintf(w, ", CPU per message %.2fx\n", m.cpuS/p.cpuS)
	}
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitListening(addr string, d time.Duration) error {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
	}
	return fmt.Errorf("nothing listens on %s", addr)
}

// sink is the next hop: it accepts everything and counts messages and
// connections.
type sink struct {
	addr               string
	srv                *smtp.Server
	msgs, conns, rcpts atomic.Int64
	deferAll           bool // 450 to every RCPT: the messages stay queued
}

func startSink() (*sink, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{addr: l.Addr().String()}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		s.conns.Add(1)
		return sinkSession{s}, nil
	}))
	s.srv.Domain = "sink.bench.test"
	s.srv.ErrorLog = log.New(io.Discard, "", 0)
	go s.srv.Serve(l)
	return s, nil
}

type sinkSession struct{ s *sink }

func (sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (ss sinkSession) Rcpt(string, *smtp.RcptOptions) error {
	ss.s.rcpts.Add(1)
	if ss.s.deferAll {
		return &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "deferred by the benchmark"}
	}
	return nil
}
func (sinkSession) Reset()        {}
func (sinkSession) Logout() error { return nil }
func (ss sinkSession) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	ss.s.msgs.Add(1)
	return err
}
