package control_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/queue/control"
)

var t0 = time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC)

// world is a scheduler with two messages: one deferred for a.example,
// one new for b.example, served on a socket in a temporary directory.
type world struct {
	sched    *queue.Scheduler
	client   *control.Client
	path     string
	deferred queue.ID
	fresh    queue.ID
	reloads  int
}

func newWorld(t *testing.T) *world {
	t.Helper()
	now := t0
	sched := queue.NewScheduler(queue.NewMemory(), queue.Config{Now: func() time.Time { return now }})
	ctx := context.Background()
	w := &world{sched: sched}
	store := func(rcpt string) queue.ID {
		e := &queue.Envelope{Sender: "s@src.example", Recipients: []queue.Recipient{{Address: rcpt}}}
		if err := sched.Store(ctx, e, strings.NewReader("Subject: x\r\n\r\nhello\r\n")); err != nil {
			t.Fatal(err)
		}
		return e.ID
	}
	w.deferred = store("u@a.example")
	now = now.Add(time.Second)
	w.fresh = store("v@b.example")
	d, err := sched.Claim(ctx)
	if err != nil || d.Envelope.ID != w.deferred {
		t.Fatalf("claim: %v", err)
	}
	if _, err := sched.Done(ctx, d, []queue.Outcome{{Recipient: 0, State: queue.Deferred, Status: "4.4.1",
		Reason: "connect to mx.a.example[192.0.2.1]:25: Connection refused"}}); err != nil {
		t.Fatal(err)
	}
	w.path = filepath.Join(t.TempDir(), "control")
	l, err := control.Listen(w.path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &control.Server{Scheduler: sched, Now: func() time.Time { return now },
		Reload: func(context.Context) error { w.reloads++; return nil }}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	w.client = control.Dial(w.path)
	return w
}

func (w *world) do(t *testing.T, req control.Request) control.Response {
	t.Helper()
	resp, err := w.client.Do(context.Background(), req)
	if err != nil {
		t.Fatalf("%+v: %v", req, err)
	}
	return resp
}

// The socket is private, and list reports what postqueue -j reports.
func TestList(t *testing.T) {
	w := newWorld(t)
	fi, err := os.Stat(w.path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, %v", fi.Mode(), err)
	}
	resp := w.do(t, control.Request{Op: control.OpList})
	if resp.Count != 2 || len(resp.Messages) != 2 {
		t.Fatalf("list %+v", resp)
	}
	m := resp.Messages[0]
	if m.QueueID != string(w.deferred) || m.QueueName != "deferred" || m.Sender != "s@src.example" ||
		m.ArrivalTime != t0.Unix() || len(m.Recipients) != 1 ||
		m.Recipients[0] != (control.Recipient{Address: "u@a.example", DelayReason: "connect to mx.a.example[192.0.2.1]:25: Connection refused"}) {
		t.Errorf("deferred message %+v", m)
	}
	if m := resp.Messages[1]; m.QueueName != "incoming" || m.Recipients[0].DelayReason != "" {
		t.Errorf("new message %+v", m)
	}
}

// Hold, release, requeue, kick and delete act on the IDs given, or on
// every message with ALL; unknown IDs are not counted.
func TestAdminOps(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if r := w.do(t, control.Request{Op: control.OpHold, IDs: []string{control.All}}); r.Count != 2 {
		t.Fatalf("hold ALL: %+v", r)
	}
	for _, m := range w.do(t, control.Request{Op: control.OpList}).Messages {
		if m.QueueName != "hold" {
			t.Errorf("%s in %s after hold", m.QueueID, m.QueueName)
		}
	}
	if r := w.do(t, control.Request{Op: control.OpRelease, IDs: []string{string(w.fresh), "NOSUCHID"}}); r.Count != 1 {
		t.Errorf("release: %+v", r)
	}
	if r := w.do(t, control.Request{Op: control.OpRequeue, IDs: []string{string(w.deferred)}}); r.Count != 1 {
		t.Errorf("requeue: %+v", r)
	}
	e, _ := w.sched.Get(ctx, w.deferred)
	if e.Held || e.NextAttempt.After(t0.Add(time.Second)) {
		t.Errorf("requeued message held %v, next attempt %v", e.Held, e.NextAttempt)
	}
	if r := w.do(t, control.Request{Op: control.OpFlush, Site: "a.example"}); r.Error != "" {
		t.Errorf("flush: %+v", r)
	}
	if r := w.do(t, control.Request{Op: control.OpDelete, IDs: []string{string(w.fresh)}}); r.Count != 1 {
		t.Errorf("delete: %+v", r)
	}
	if _, err := w.sched.Get(ctx, w.fresh); err == nil {
		t.Error("deleted message still queued")
	}
	if r := w.do(t, control.Request{Op: control.OpReload}); r.Count != 1 || w.reloads != 1 {
		t.Errorf("reload: %+v, %d reloads", r, w.reloads)
	}
}

// Show returns the envelope and the content, as postcat -q.
func TestShow(t *testing.T) {
	w := newWorld(t)
	var body bytes.Buffer
	m, err := w.client.Show(context.Background(), string(w.fresh), &body)
	if err != nil {
		t.Fatal(err)
	}
	if m.QueueID != string(w.fresh) || !strings.Contains(body.String(), "hello") {
		t.Errorf("show: %+v %q", m, body.String())
	}
	if _, err := w.client.Show(context.Background(), "NOSUCHID", &body); err == nil {
		t.Error("show of a missing message succeeded")
	}
}

// A malformed, unknown or oversized request is answered with an error,
// and the server goes on serving.
func TestBadRequests(t *testing.T) {
	w := newWorld(t)
	if _, err := w.client.Do(context.Background(), control.Request{Op: "shutdown"}); err == nil || !strings.Contains(err.Error(), "unknown operation") {
		t.Errorf("unknown op: %v", err)
	}
	for _, raw := range []string{"not json\n", strings.Repeat("x", control.MaxRequestBytes+10)} {
		c, err := net.Dial("unix", w.path)
		if err != nil {
			t.Fatal(err)
		}
		go c.Write([]byte(raw))
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 4096)
		n, _ := c.Read(buf)
		c.Close()
		if !strings.Contains(string(buf[:n]), `"error"`) {
			t.Errorf("%.20q: reply %q", raw, buf[:n])
		}
	}
	if r := w.do(t, control.Request{Op: control.OpList}); r.Count != 2 {
		t.Errorf("server broken after bad requests: %+v", r)
	}
}

// A second server cannot take a socket a live server answers on; a
// stale socket file is replaced.
func TestListenStaleAndLive(t *testing.T) {
	w := newWorld(t)
	if _, err := control.Listen(w.path); err == nil {
		t.Error("Listen took over a live server's socket")
	}
	stale := filepath.Join(t.TempDir(), "control")
	l, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	l, err = control.Listen(stale)
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	l.Close()
}

// Local runs the same requests in process, for a stopped relay.
func TestLocal(t *testing.T) {
	sched := queue.NewScheduler(queue.NewMemory(), queue.Config{})
	e := &queue.Envelope{Sender: "", Recipients: []queue.Recipient{{Address: "u@a.example"}}}
	if err := sched.Store(context.Background(), e, strings.NewReader("x\r\n")); err != nil {
		t.Fatal(err)
	}
	c := control.Local(&control.Server{Scheduler: sched})
	resp, err := c.Do(context.Background(), control.Request{Op: control.OpList})
	if err != nil || resp.Count != 1 || !slices.ContainsFunc(resp.Messages, func(m control.Message) bool { return m.QueueID == string(e.ID) }) {
		t.Fatalf("local list: %+v %v", resp, err)
	}
	if _, err := c.Do(context.Background(), control.Request{Op: control.OpReload}); err == nil {
		t.Error("reload without a Reload func succeeded")
	}
}
