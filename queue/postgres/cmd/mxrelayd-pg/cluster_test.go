package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/mxrelay/mxrelay/examples/mxrelayd/daemon"
	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/queue/postgres"
	"github.com/mxrelay/mxrelay/queue/postgres/internal/pgtest"
)

// The tests run nodes as child processes of the test binary, so that one
// can be killed with SIGKILL: TestMain runs the daemon when this is set.
const childEnv = "MXRELAYD_PG_CHILD_ARGS"

func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv(childEnv); ok {
		os.Exit(daemon.MainWith(strings.Split(args, "\x1f"), options()))
	}
	os.Exit(m.Run())
}

func dsn(t *testing.T) string { return pgtest.DSN(t) }

// node is one mxrelayd-pg child process.
type node struct {
	name  string
	cmd   *exec.Cmd
	addr  string   // the first address it listens on
	addrs []string // all of them
	logs  *os.File
	cf    string // its main.cf
}

var listening = regexp.MustCompile(`listening on (.+), queue `)

// nodeConfig returns the main.cf of the node name: a copy of the -config
// in args, and of the master.cf beside it, in a directory of the node
// that is also its queue_directory (its control socket and verify cache;
// several nodes on one machine must not share them), and args with
// -config pointing there. A node started again gets the same directory.
func nodeConfig(t testing.TB, name string, args []string) (string, []string) {
	t.Helper()
	args = slices.Clone(args)
	i := slices.Index(args, "-config")
	if i < 0 || i+1 == len(args) {
		t.Fatalf("no -config in %q", args)
	}
	src := args[i+1]
	dir := filepath.Join(filepath.Dir(src), "nodes", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	cf := filepath.Join(dir, "main.cf")
	if err := os.WriteFile(cf, fmt.Appendf(b, "queue_directory = %s\n", dir), 0o644); err != nil {
		t.Fatal(err)
	}
	if m, err := os.ReadFile(filepath.Join(filepath.Dir(src), "master.cf")); err == nil {
		if err := os.WriteFile(filepath.Join(dir, "master.cf"), m, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args[i+1] = cf
	return cf, args
}

// startNode starts a node named name (its $myhostname, which it gives in
// EHLO) with args, on 127.0.0.1:0 unless args say -listen or the node's
// master.cf says where, and waits until it listens.
func startNode(t testing.TB, name string, args ...string) *node {
	t.Helper()
	cf, args := nodeConfig(t, name, args)
	args = append(args, "-hostname", name, "-dns", "127.0.0.1:1")
	if _, err := os.Stat(filepath.Join(filepath.Dir(cf), "master.cf")); err != nil && !slices.Contains(args, "-listen") {
		args = append(args, "-listen", "127.0.0.1:0")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+strings.Join(args, "\x1f"))
	logs, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logs
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := &node{name: name, cmd: cmd, logs: logs, cf: cf}
	t.Cleanup(func() {
		n.cmd.Process.Signal(syscall.SIGTERM)
		n.cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logs.Name())
			t.Logf("log of %s (last 3000 bytes):\n%s", name, b[max(0, len(b)-3000):])
		}
	})
	sc := bufio.NewScanner(out)
	addr := make(chan string, 1)
	go func() {
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			b, _ := os.ReadFile(logs.Name())
			t.Fatalf("node %s exited before listening:\n%s", name, b)
		}
		n.addrs = strings.Split(a, ", ")
		n.addr = n.addrs[0]
	case <-time.After(30 * time.Second):
		t.Fatalf("node %s did not listen within 30s", name)
	}
	return n
}

// kill ends the node with SIGKILL, as a crash would.
func (n *node) kill(t *testing.T) {
	t.Helper()
	if err := n.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	n.cmd.Wait()
}

// delivery is one transaction the next hop received.
type delivery struct {
	msg        string // the Subject
	node       string // the EHLO name of the node that delivered it
	start, end time.Time
}

// nextHop is a loopback SMTP server that records every delivery, takes
// delay to answer each DATA, and counts the transactions in progress.
type nextHop struct {
	addr  string
	delay time.Duration
	mu    sync.Mutex
	got   []delivery
	open  map[*hopSession]delivery // transactions in progress
	peak  int
	down  bool // refuse every transaction with 421
}

// setDown makes the next hop refuse (421) or accept mail.
func (h *nextHop) setDown(down bool) {
	h.mu.Lock()
	h.down = down
	h.mu.Unlock()
}

func startNextHop(t testing.TB, delay time.Duration) *nextHop {
	h := &nextHop{delay: delay, open: map[*hopSession]delivery{}}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		return &hopSession{h: h, c: c}, nil
	}))
	srv.Domain = "primary.example.test"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = l.Addr().String()
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return h
}

type hopSession struct {
	h *nextHop
	c *gosmtp.Conn
}

func (s *hopSession) Mail(string, *gosmtp.MailOptions) error {
	s.h.mu.Lock()
	if s.h.down {
		s.h.mu.Unlock()
		return &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 3, 2}, Message: "down for maintenance"}
	}
	s.h.open[s] = delivery{node: s.c.Hostname(), start: time.Now()}
	s.h.peak = max(s.h.peak, len(s.h.open))
	s.h.mu.Unlock()
	return nil
}

func (s *hopSession) Rcpt(string, *gosmtp.RcptOptions) error { return nil }

func (s *hopSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	time.Sleep(s.h.delay)
	subject := ""
	if m := regexp.MustCompile(`(?m)^Subject: (.*?)\r?$`).FindSubmatch(b); m != nil {
		subject = string(m[1])
	}
	s.h.mu.Lock()
	d := s.h.open[s]
	delete(s.h.open, s)
	d.msg, d.end = subject, time.Now()
	s.h.got = append(s.h.got, d)
	s.h.mu.Unlock()
	return nil
}

func (s *hopSession) Reset() {
	s.h.mu.Lock()
	delete(s.h.open, s)
	s.h.mu.Unlock()
}

func (s *hopSession) Logout() error {
	s.Reset()
	return nil
}

func (h *nextHop) deliveries() []delivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]delivery(nil), h.got...)
}

// inFlight lists the transactions in progress by node.
func (h *nextHop) inFlight(node string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, d := range h.open {
		if d.node == node {
			n++
		}
	}
	return n
}

func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mainCF writes a main.cf relaying example.test to hop, with at most
// limit deliveries at once per destination, retrying after 1s.
func mainCF(t testing.TB, hop string, limit int) string {
	return mainCFBackoff(t, hop, limit, "1s")
}

// mainCFBackoff is mainCF retrying after backoff.
func mainCFBackoff(t testing.TB, hop string, limit int, backoff string) string {
	_, port, _ := net.SplitHostPort(hop)
	cf := filepath.Join(t.TempDir(), "main.cf")
	err := os.WriteFile(cf, fmt.Appendf(nil, `compatibility_level = 3.6
myhostname = mx.example.test
mydestination =
mynetworks = 127.0.0.0/8
relay_domains = example.test
relay_transport = relay:[127.0.0.1]:%[1]s
default_destination_concurrency_limit = %[2]d
minimal_backoff_time = %[3]s
maximal_backoff_time = %[3]s
`, port, limit, backoff), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return cf
}

func send(addr string, i int) error {
	return smtp.SendMail(addr, nil, "sender@example.org", []string{fmt.Sprintf("u%d@example.test", i)},
		fmt.Appendf(nil, "Subject: msg %d\r\n\r\nmessage %d\r\n", i, i))
}

// queued counts the messages left in the queue.
func queued(t *testing.T, pre string) int {
	q, err := postgres.Connect(context.Background(), dsn(t), &postgres.Options{Prefix: pre, NodeTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	n := 0
	if err := q.Walk(context.Background(), func(*queue.Envelope) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestClusterNodeKilled: two nodes on one queue accept numbered messages;
// one is killed with SIGKILL while it delivers, and started again. Every
// message acknowledged with 250 is delivered; a message is delivered
// twice only if its first delivery was in progress on the killed node
// (the next hop had it, the node had not recorded it), never because two
// nodes claimed it. The destination's concurrency limit holds across the
// nodes throughout.
func TestClusterNodeKilled(t *testing.T) {
	pre := pgtest.Prefix(t)
	hop := startNextHop(t, 150*time.Millisecond)
	args := []string{"-config", mainCF(t, hop.addr, 2), "-queue", dsn(t), "-prefix", pre, "-node-ttl", "2s"}
	a := startNode(t, "nodea.example.test", args...)
	b := startNode(t, "nodeb.example.test", args...)
	const n = 60
	acked := 0
	for i := range n {
		to := a
		if i%2 == 1 {
			to = b
		}
		if err := send(to.addr, i); err != nil {
			t.Fatalf("message %d through %s: %v", i, to.name, err)
		}
		acked++
	}
	// Kill a while it has a delivery in progress, after it delivered some.
	waitFor(t, "node a delivering", 30*time.Second, func() bool {
		done := 0
		for _, d := range hop.deliveries() {
			if d.node == a.name {
				done++
			}
		}
		return done >= 3 && hop.inFlight(a.name) > 0
	})
	killed := time.Now()
	a.kill(t)
	startNode(t, a.name, args...)

	distinct := func() map[string][]delivery {
		m := map[string][]delivery{}
		for _, d := range hop.deliveries() {
			m[d.msg] = append(m[d.msg], d)
		}
		return m
	}
	waitFor(t, "every acknowledged message delivered", 60*time.Second, func() bool { return len(distinct()) == acked })
	dups := 0
	for msg, ds := range distinct() {
		if len(ds) == 1 {
			continue
		}
		dups += len(ds) - 1
		first := ds[0]
		if len(ds) > 2 || first.node != a.name || !first.start.Before(killed) {
			t.Errorf("%s delivered %d times: %+v (node a killed at %v)", msg, len(ds), ds, killed)
		}
	}
	t.Logf("%d messages, %d deliveries, %d duplicates (in flight on the killed node); at most %d at once", acked, len(hop.deliveries()), dups, hop.peak)
	// default_destination_concurrency_limit = 2 holds for the cluster,
	// not per node.
	if hop.peak > 2 {
		t.Errorf("the next hop had %d deliveries at once from the two nodes; the limit is 2", hop.peak)
	}
	waitFor(t, "an empty queue", 30*time.Second, func() bool { return queued(t, pre) == 0 })
}
