// Package queuetest is the conformance suite for queue.Queue backends. Run
// it on your own backend before handing it to a queue.Scheduler:
//
//	func TestConformance(t *testing.T) {
//		queuetest.Run(t, queuetest.Options{
//			New: func(t *testing.T) queue.Queue { return mybackend.New(...) },
//		})
//	}
//
// It checks what the Scheduler and a relay rely on: an acknowledged Store
// is complete (envelope fields to the nanosecond, each recipient's recorded
// Destination included, body byte for byte) and,
// for a persistent backend, survives a reopen; a failed Store leaves
// nothing; claims come in due order, respect leases and are never handed
// to two workers at once; a lease that runs out makes the message due
// again; Modify is atomic and all-or-nothing; per-recipient state is kept;
// large bodies are streamed; Walk, Get, Body and Remove behave as
// documented on queue.Queue.
package queuetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/queue"
)

// Options describes the backend under test.
type Options struct {
	// New returns an empty queue. Required. Register any cleanup (Close)
	// with t.Cleanup.
	New func(t *testing.T) queue.Queue
	// Reopen closes q and opens the same storage again, as after a
	// restart; the suite then checks that everything acknowledged is
	// still there. Nil for backends that do not persist (Memory).
	Reopen func(t *testing.T, q queue.Queue) queue.Queue
	// Streaming asserts that Store does not hold the body whole in
	// memory: storing a BigBody-byte body may allocate at most a quarter
	// of it. Set it for every backend meant for real mail.
	Streaming bool
	// BigBody is the size of the large-body test. Default 50 MB.
	BigBody int64
	// LeasesPersist says that claims survive a reopen, as they must in a
	// backend shared by several processes (a database). Single-process
	// backends (Spool) drop them: after a restart nothing is claimed.
	LeasesPersist bool
}

// Run runs the whole suite as subtests of t.
func Run(t *testing.T, o Options) {
	if o.New == nil {
		t.Fatal("queuetest: Options.New is required")
	}
	if o.BigBody <= 0 {
		o.BigBody = 50 << 20
	}
	s := suite{o}
	t.Run("StoreGet", s.storeGet)
	t.Run("StoreFailureLeavesNothing", s.storeFailure)
	t.Run("DuplicateID", s.duplicateID)
	t.Run("DueOrder", s.dueOrder)
	t.Run("Held", s.held)
	t.Run("LeaseExpiry", s.leaseExpiry)
	t.Run("Accept", s.accept)
	t.Run("Modify", s.modify)
	t.Run("RecipientState", s.recipientState)
	t.Run("Remove", s.remove)
	t.Run("Walk", s.walk)
	t.Run("ConcurrentClaims", s.concurrentClaims)
	t.Run("ConcurrentStores", s.concurrentStores)
	t.Run("BigBody", s.bigBody)
	t.Run("CanceledContext", s.canceled)
	if o.Reopen != nil {
		t.Run("Durability", s.durability)
	}
}

type suite struct{ o Options }

// BaseTime is the base time of the suite's envelopes: their Arrival and
// NextAttempt are whole seconds after it (it has nanoseconds, so a backend
// that rounds times fails).
var BaseTime = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

func ctx() context.Context { return context.Background() }

// sample returns a fully populated envelope; n varies it.
func sample(n int) *queue.Envelope {
	return &queue.Envelope{
		Sender: fmt.Sprintf("sender%d@example.org", n),
		Recipients: []queue.Recipient{
			{Address: fmt.Sprintf("a%d@example.com", n), Notify: queue.NotifyFailure | queue.NotifyDelay, ORCPT: "rfc822;orig@example.com",
				Destination: "relay:[mx.example.com]"},
			{Address: "b@Example.NET"},
			{Address: "ü@bücher.example", Notify: queue.NotifyNever, Destination: "smtp:bücher.example"},
		},
		Ret:         queue.RetHdrs,
		EnvID:       "env-" + fmt.Sprint(n),
		SMTPUTF8:    true,
		Arrival:     BaseTime.Add(time.Duration(n) * time.Second),
		NextAttempt: BaseTime.Add(time.Duration(n) * time.Second),
		Filter:      "smtp-amavis:[127.0.0.1]:10024",
		Client: queue.Client{Name: "client.example", Addr: "192.0.2.7", Port: fmt.Sprint(40000 + n),
			Helo: "hélo.example", Proto: "ESMTP", Source: "REMOTE", Ident: "UPSTREAM1"},
	}
}

func bodyOf(n int) []byte {
	return fmt.Appendf(nil, "Subject: test %d\r\n\r\nbody %d\r\n.leading dot\r\n", n, n)
}

func (s suite) store(t *testing.T, q queue.Queue, e *queue.Envelope, body []byte) queue.ID {
	t.Helper()
	if err := q.Store(ctx(), e, bytes.NewReader(body)); err != nil {
		t.Fatalf("Store: %v", err)
	}
	return e.ID
}

func readBody(t *testing.T, q queue.Queue, id queue.ID) []byte {
	t.Helper()
	rc, err := q.Body(ctx(), id)
	if err != nil {
		t.Fatalf("Body(%s): %v", id, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Body(%s): read: %v", id, err)
	}
	return b
}

func get(t *testing.T, q queue.Queue, id queue.ID) queue.Envelope {
	t.Helper()
	e, err := q.Get(ctx(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return e
}

// same compares the stored fields of two envelopes (everything but the
// Lease, times to the nanosecond) through their encoded records.
func same(t *testing.T, what string, got, want queue.Envelope) {
	t.Helper()
	g, err1 := queue.EncodeEnvelope(&got)
	w, err2 := queue.EncodeEnvelope(&want)
	if err1 != nil || err2 != nil {
		t.Fatalf("%s: encode: %v %v", what, err1, err2)
	}
	if !bytes.Equal(g, w) {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func (s suite) storeGet(t *testing.T) {
	q := s.o.New(t)
	e := sample(1)
	body := bodyOf(1)
	id := s.store(t, q, e, body)
	if !id.Valid() {
		t.Fatalf("Store assigned invalid ID %q", id)
	}
	if e.Size != int64(len(body)) {
		t.Errorf("Store set Size %d, want %d", e.Size, len(body))
	}
	got := get(t, q, id)
	same(t, "Get after Store", got, *e)
	for i, r := range got.Recipients {
		if r.Destination != e.Recipients[i].Destination {
			t.Errorf("recipient %d: Destination %q after Store, want %q", i, r.Destination, e.Recipients[i].Destination)
		}
	}
	if got.Lease.Token != 0 {
		t.Errorf("fresh message has a lease: %+v", got.Lease)
	}
	if b := readBody(t, q, id); !bytes.Equal(b, body) {
		t.Errorf("Body = %q, want %q", b, body)
	}
	// Two bodies can be read at once and the returned envelope is a copy.
	got.Recipients[0].Address = "changed@example.com"
	if again := get(t, q, id); again.Recipients[0].Address == "changed@example.com" {
		t.Error("Get returned an envelope sharing memory with the queue")
	}
	// A caller-chosen ID is kept.
	e2 := sample(2)
	e2.ID = "CHOSEN-id_2"
	if id2 := s.store(t, q, e2, nil); id2 != "CHOSEN-id_2" {
		t.Errorf("Store changed a chosen ID to %q", id2)
	}
	if b := readBody(t, q, "CHOSEN-id_2"); len(b) != 0 {
		t.Errorf("empty body read back as %q", b)
	}
	if _, err := q.Get(ctx(), "NOSUCH"); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("Get(missing) = %v, want ErrNotFound", err)
	}
	if _, err := q.Body(ctx(), "NOSUCH"); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("Body(missing) = %v, want ErrNotFound", err)
	}
}

type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errors.New("client went away")
	}
	n := min(len(p), r.n)
	clear(p[:n])
	r.n -= n
	return n, nil
}

func (s suite) storeFailure(t *testing.T) {
	q := s.o.New(t)
	if err := q.Store(ctx(), sample(1), &failingReader{n: 100000}); err == nil {
		t.Error("Store with a failing body reader succeeded")
	}
	bad := sample(2)
	bad.Recipients = nil
	if err := q.Store(ctx(), bad, bytes.NewReader(bodyOf(2))); err == nil {
		t.Error("Store of an envelope without recipients succeeded")
	}
	bad = sample(3)
	bad.ID = "../etc/passwd"
	if err := q.Store(ctx(), bad, bytes.NewReader(bodyOf(3))); err == nil {
		t.Error("Store with an invalid ID succeeded")
	}
	if n := count(t, q); n != 0 {
		t.Errorf("failed Stores left %d messages behind", n)
	}
	if _, err := q.Claim(ctx(), BaseTime.Add(time.Hour), time.Minute, nil); !errors.Is(err, queue.ErrEmpty) {
		t.Errorf("Claim after failed Stores = %v, want ErrEmpty", err)
	}
	if s.o.Reopen != nil {
		q = s.o.Reopen(t, q)
		if n := count(t, q); n != 0 {
			t.Errorf("after reopen, failed Stores left %d messages", n)
		}
	}
}

func count(t *testing.T, q queue.Queue) int {
	t.Helper()
	n := 0
	if err := q.Walk(ctx(), func(*queue.Envelope) error { n++; return nil }); err != nil {
		t.Fatalf("Walk: %v", err)
	}
	return n
}

func (s suite) duplicateID(t *testing.T) {
	q := s.o.New(t)
	e := sample(1)
	e.ID = "DUP"
	s.store(t, q, e, bodyOf(1))
	e2 := sample(2)
	e2.ID = "DUP"
	if err := q.Store(ctx(), e2, bytes.NewReader(bodyOf(2))); !errors.Is(err, queue.ErrExists) {
		t.Errorf("second Store with the same ID = %v, want ErrExists", err)
	}
	if got := get(t, q, "DUP"); got.Sender != e.Sender {
		t.Errorf("duplicate Store replaced the message: sender %q", got.Sender)
	}
	if b := readBody(t, q, "DUP"); !bytes.Equal(b, bodyOf(1)) {
		t.Errorf("duplicate Store replaced the body: %q", b)
	}
}

// claimAll claims until ErrEmpty and returns the IDs in order.
func claimAll(t *testing.T, q queue.Queue, now time.Time) []queue.ID {
	t.Helper()
	var ids []queue.ID
	for {
		e, err := q.Claim(ctx(), now, time.Hour, nil)
		if errors.Is(err, queue.ErrEmpty) {
			return ids
		}
		if err != nil {
			t.Fatalf("Claim: %v", err)
		}
		ids = append(ids, e.ID)
		if len(ids) > 1000 {
			t.Fatal("Claim keeps returning messages")
		}
	}
}

func (s suite) dueOrder(t *testing.T) {
	q := s.o.New(t)
	// name: NextAttempt offset, Arrival offset.
	type m struct {
		id          queue.ID
		next, arriv time.Duration
	}
	msgs := []m{
		{"E", 50 * time.Second, 0},
		{"C", 10 * time.Second, 5 * time.Second},
		{"B", 10 * time.Second, 1 * time.Second},
		{"D", 10 * time.Second, 5 * time.Second},
		{"A", 0, 9 * time.Second},
		{"LATER", time.Hour, 0},
	}
	for i, x := range msgs {
		e := sample(i)
		e.ID, e.NextAttempt, e.Arrival = x.id, BaseTime.Add(x.next), BaseTime.Add(x.arriv)
		s.store(t, q, e, bodyOf(i))
	}
	got := claimAll(t, q, BaseTime.Add(time.Minute))
	want := []queue.ID{"A", "B", "C", "D", "E"}
	if !slices.Equal(got, want) {
		t.Errorf("claim order %v, want %v (by NextAttempt, then Arrival, then ID; LATER not due)", got, want)
	}
	// A message is not due before its NextAttempt, and due exactly at it.
	if _, err := q.Claim(ctx(), BaseTime.Add(time.Hour-time.Nanosecond), time.Hour, nil); !errors.Is(err, queue.ErrEmpty) {
		t.Errorf("Claim 1ns before NextAttempt = %v, want ErrEmpty", err)
	}
	if e, err := q.Claim(ctx(), BaseTime.Add(time.Hour), time.Minute, nil); err != nil || e.ID != "LATER" {
		t.Errorf("Claim at NextAttempt = %v, %v; want LATER", e.ID, err)
	}
	// Zero NextAttempt means due now.
	z := sample(9)
	z.ID, z.NextAttempt = "ZERO", time.Time{}
	s.store(t, q, z, nil)
	if e, err := q.Claim(ctx(), BaseTime, time.Minute, nil); err != nil || e.ID != "ZERO" {
		t.Errorf("Claim of a message with zero NextAttempt = %v, %v", e.ID, err)
	}
}

func (s suite) held(t *testing.T) {
	q := s.o.New(t)
	e := sample(1)
	e.Held = true
	id := s.store(t, q, e, bodyOf(1))
	if _, err := q.Claim(ctx(), BaseTime.Add(time.Hour), time.Minute, nil); !errors.Is(err, queue.ErrEmpty) {
		t.Errorf("Claim returned a held message (%v)", err)
	}
	if err := q.Modify(ctx(), id, func(e *queue.Envelope) error { e.Held = false; return nil }); err != nil {
		t.Fatal(err)
	}
	c, err := q.Claim(ctx(), BaseTime.Add(time.Hour), time.Minute, nil)
	if err != nil || c.ID != id {
		t.Fatalf("Claim after release = %v, %v", c.ID, err)
	}
	// Holding a claimed message keeps it out even after its lease ends.
	if err := q.Modify(ctx(), id, func(e *queue.Envelope) error { e.Held = true; e.Lease = queue.Lease{}; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Claim(ctx(), BaseTime.Add(48*time.Hour), time.Minute, nil); !errors.Is(err, queue.ErrEmpty) {
		t.Errorf("Claim returned a message held while claimed (%v)", err)
	}
	if !get(t, q, id).Held {
		t.Error("Held not kept")
	}
}

func (s suite) leaseExpiry(t *testing.T) {
	q := s.o.New(t)
	id := s.store(t, q, sample(1), bodyOf(1))
	now := BaseTime.Add(time.Minute)
	c1, err := q.Claim(ctx(), now, 10*time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c1.Lease.Token == 0 || !c1.Lease.Until.Equal(now.Add(10*time.Minute)) {
		t.Errorf("claimed lease %+v, want a token until %v", c1.Lease, now.Add(10*time.Minute))
	}
	if g := get(t, q, id); g.Lease.Token != c1.Lease.Token || !g.Lease.Until.Equal(c1.Lease.Until) {
		t.Errorf("Get shows lease %+v, want %+v", g.Lease, c1.Lease)
	}
	if _, err := q.Claim(ctx(), now.Add(10*time.Minute-time.Nanosecond), time.Minute, nil); !errors.Is(err, queue.ErrEmpty) {
		t.Errorf("Claim during a live lease = %v, want ErrEmpty", err)
	}
	// The worker died: at the lease's end the message is due again.
	c2, err := q.Claim(ctx(), now.Add(10*time.Minute), time.Minute, nil)
	if err != nil || c2.ID != id {
		t.Fatalf("Claim after lease expiry = %v, %v", c2.ID, err)
	}
	if c2.Lease.Token == c1.Lease.Token {
		t.Error("a new claim reused the expired lease's token")
	}
	// Releasing the lease through Modify makes it due at NextAttempt.
	if err := q.Modify(ctx(), id, func(e *queue.Envelope) error {
		if e.Lease.Token != c2.Lease.Token {
			t.Errorf("Modify sees lease %+v, want %+v", e.Lease, c2.Lease)
		}
		e.Lease = queue.Lease{}
		e.NextAttempt = now.Add(time.Hour)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Claim(ctx(), now.Add(time.Hour-time.Second), time.Minute, nil); !errors.Is(err, queue.ErrEmpty) {
		t.Errorf("Claim before the new NextAttempt = %v, want ErrEmpty", err)
	}
	if c3, err := q.Claim(ctx(), now.Add(time.Hour), time.Minute, nil); err != nil || c3.ID != id {
		t.Errorf("Claim at the new NextAttempt = %v, %v", c3.ID, err)
	}
	// A lease ending before NextAttempt does not make the message due early.
	id2 := s.store(t, q, sample(2), nil)
	c4, err := q.Claim(ctx(), now, time.Minute, func(e *queue.Envelope) bool { return e.ID == id2 })
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Modify(ctx(), id2, func(e *queue.Envelope) error {
		e.NextAttempt = now.Add(time.Hour)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Claim(ctx(), now.Add(30*time.Minute), time.Minute, func(e *queue.Envelope) bool { return e.ID == id2 }); !errors.Is(err, queue.ErrEmpty) {
		t.Errorf("message claimed after its lease ended but before NextAttempt (%v)", err)
	}
	if g := get(t, q, id2); g.Lease.Token != c4.Lease.Token {
		t.Errorf("Modify that left Lease alone changed it: %+v", g.Lease)
	}
}

func (s suite) accept(t *testing.T) {
	q := s.o.New(t)
	for i := range 5 {
		e := sample(i)
		e.ID = queue.ID(fmt.Sprint("msg", i))
		s.store(t, q, e, nil)
	}
	var seen []queue.ID
	c, err := q.Claim(ctx(), BaseTime.Add(time.Hour), time.Minute, func(e *queue.Envelope) bool {
		if e.Lease.Token != 0 {
			t.Errorf("accept saw a lease on an unclaimed message")
		}
		seen = append(seen, e.ID)
		return e.ID == "msg3"
	})
	if err != nil || c.ID != "msg3" {
		t.Fatalf("Claim with accept = %v, %v; want msg3", c.ID, err)
	}
	if !slices.Equal(seen, []queue.ID{"msg0", "msg1", "msg2", "msg3"}) {
		t.Errorf("accept called for %v, want msg0..msg3 in due order", seen)
	}
	// Refused messages stay due.
	if got := claimAll(t, q, BaseTime.Add(time.Hour)); !slices.Equal(got, []queue.ID{"msg0", "msg1", "msg2", "msg4"}) {
		t.Errorf("after refusals, claims %v", got)
	}
	if _, err := q.Claim(ctx(), BaseTime.Add(time.Hour), time.Minute, func(*queue.Envelope) bool { return false }); !errors.Is(err, queue.ErrEmpty) {
		t.Errorf("Claim refusing everything = %v, want ErrEmpty", err)
	}
}

func (s suite) modify(t *testing.T) {
	q := s.o.New(t)
	e := sample(1)
	id := s.store(t, q, e, bodyOf(1))
	before := get(t, q, id)
	boom := errors.New("boom")
	if err := q.Modify(ctx(), id, func(e *queue.Envelope) error {
		e.Sender = "changed@example.com"
		e.Recipients[0].State = queue.Failed
		e.Held = true
		return boom
	}); !errors.Is(err, boom) {
		t.Errorf("Modify returned %v, want fn's error", err)
	}
	same(t, "after a failed Modify", get(t, q, id), before)
	if _, err := q.Claim(ctx(), BaseTime.Add(time.Hour), time.Minute, nil); err != nil {
		t.Errorf("a failed Modify (setting Held) affected Claim: %v", err)
	}
	if err := q.Modify(ctx(), "NOSUCH", func(*queue.Envelope) error { return nil }); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("Modify(missing) = %v, want ErrNotFound", err)
	}
	// Invalid results are refused and change nothing.
	if err := q.Modify(ctx(), id, func(e *queue.Envelope) error { e.Recipients = nil; return nil }); err == nil {
		t.Error("Modify removing every recipient succeeded")
	}
	if g := get(t, q, id); len(g.Recipients) != 3 {
		t.Errorf("refused Modify changed recipients: %v", g.Recipients)
	}
	// ID and Size cannot change.
	if err := q.Modify(ctx(), id, func(e *queue.Envelope) error {
		e.ID, e.Size, e.Attempts = "OTHER", 1, 7
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	g := get(t, q, id)
	if g.ID != id || g.Size != int64(len(bodyOf(1))) || g.Attempts != 7 {
		t.Errorf("after Modify changing ID/Size/Attempts: ID %s Size %d Attempts %d", g.ID, g.Size, g.Attempts)
	}
	if _, err := q.Get(ctx(), "OTHER"); !errors.Is(err, queue.ErrNotFound) {
		t.Error("Modify created a message under a new ID")
	}
	if b := readBody(t, q, id); !bytes.Equal(b, bodyOf(1)) {
		t.Errorf("body after Modify = %q", b)
	}
}

func (s suite) recipientState(t *testing.T) {
	q := s.o.New(t)
	id := s.store(t, q, sample(1), bodyOf(1))
	at := BaseTime.Add(90*time.Second + 17)
	if err := q.Modify(ctx(), id, func(e *queue.Envelope) error {
		e.Recipients[0].State, e.Recipients[0].Reason, e.Recipients[0].Updated = queue.Delivered, "250 2.0.0 Ok: queued as 4Xyz", at
		e.Recipients[1].State, e.Recipients[1].Reason, e.Recipients[1].Updated = queue.Deferred, "451 4.3.0 try again", at
		e.Recipients[2].State, e.Recipients[2].Reason, e.Recipients[2].Updated = queue.Failed, "550 5.1.1 <ü@bücher.example>: unknown", at
		e.Recipients[2].Notified = true
		e.Attempts = 1
		e.NextAttempt = at.Add(300 * time.Second)
		e.DelayWarned = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	g := get(t, q, id)
	want := []queue.State{queue.Delivered, queue.Deferred, queue.Failed}
	for i, r := range g.Recipients {
		if r.State != want[i] || !r.Updated.Equal(at) || r.Reason == "" {
			t.Errorf("recipient %d = %+v, want state %v updated %v", i, r, want[i], at)
		}
	}
	if p := g.Pending(); !slices.Equal(p, []int{1}) {
		t.Errorf("Pending() = %v, want [1]", p)
	}
	if g.Recipients[2].Reason != "550 5.1.1 <ü@bücher.example>: unknown" || !g.Recipients[2].Notified ||
		g.Recipients[0].Notified || !g.DelayWarned || g.Attempts != 1 {
		t.Errorf("fields not kept: %+v", g)
	}
	// The recorded destinations survive a Modify that leaves them alone,
	// and one that changes them.
	if g.Recipients[0].Destination != "relay:[mx.example.com]" || g.Recipients[1].Destination != "" ||
		g.Recipients[2].Destination != "smtp:bücher.example" {
		t.Errorf("destinations not kept: %q %q %q", g.Recipients[0].Destination, g.Recipients[1].Destination, g.Recipients[2].Destination)
	}
	if err := q.Modify(ctx(), id, func(e *queue.Envelope) error {
		e.Recipients[1].Destination = "smtp:[fallback.example]:587"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if g := get(t, q, id); g.Recipients[1].Destination != "smtp:[fallback.example]:587" || g.Recipients[0].Destination != "relay:[mx.example.com]" {
		t.Errorf("destinations after Modify: %q %q", g.Recipients[0].Destination, g.Recipients[1].Destination)
	}
	if err := q.Modify(ctx(), id, func(e *queue.Envelope) error {
		e.Recipients[1].State = queue.Expired
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if g := get(t, q, id); !g.Final() || g.Recipients[1].State != queue.Expired || g.Recipients[0].State != queue.Delivered {
		t.Errorf("after expiring the last pending recipient: %+v", g.Recipients)
	}
}

func (s suite) remove(t *testing.T) {
	q := s.o.New(t)
	id := s.store(t, q, sample(1), bodyOf(1))
	keep := s.store(t, q, sample(2), bodyOf(2))
	if _, err := q.Claim(ctx(), BaseTime.Add(time.Hour), time.Minute, func(e *queue.Envelope) bool { return e.ID == id }); err != nil {
		t.Fatal(err)
	}
	if err := q.Remove(ctx(), id); err != nil {
		t.Fatalf("Remove of a claimed message: %v", err)
	}
	if _, err := q.Get(ctx(), id); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("Get after Remove = %v", err)
	}
	if _, err := q.Body(ctx(), id); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("Body after Remove = %v", err)
	}
	if err := q.Remove(ctx(), id); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("second Remove = %v, want ErrNotFound", err)
	}
	if err := q.Modify(ctx(), id, func(*queue.Envelope) error { return nil }); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("Modify after Remove = %v", err)
	}
	if got := claimAll(t, q, BaseTime.Add(48*time.Hour)); !slices.Equal(got, []queue.ID{keep}) {
		t.Errorf("claims after Remove: %v, want only %s", got, keep)
	}
	// The ID can be used again.
	e := sample(3)
	e.ID = id
	s.store(t, q, e, bodyOf(3))
	if b := readBody(t, q, id); !bytes.Equal(b, bodyOf(3)) {
		t.Errorf("reused ID has body %q", b)
	}
}

func (s suite) walk(t *testing.T) {
	q := s.o.New(t)
	want := map[queue.ID]string{}
	for i := range 20 {
		e := sample(i)
		s.store(t, q, e, bodyOf(i))
		want[e.ID] = e.Sender
	}
	got := map[queue.ID]string{}
	if err := q.Walk(ctx(), func(e *queue.Envelope) error {
		if _, dup := got[e.ID]; dup {
			t.Errorf("Walk visited %s twice", e.ID)
		}
		got[e.ID] = e.Sender
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Walk saw %v, want %v", got, want)
	}
	stop := errors.New("stop")
	n := 0
	if err := q.Walk(ctx(), func(*queue.Envelope) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("Walk with fn failing: err %v after %d calls, want stop after 1", err, n)
	}
}

func (s suite) concurrentClaims(t *testing.T) {
	q := s.o.New(t)
	const msgs, workers = 200, 8
	for i := range msgs {
		s.store(t, q, sample(i%50), bodyOf(i))
	}
	now := BaseTime.Add(time.Hour)
	var mu sync.Mutex
	claimed := map[queue.ID]int{}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				e, err := q.Claim(ctx(), now, time.Hour, nil)
				if errors.Is(err, queue.ErrEmpty) {
					return
				}
				if err != nil {
					t.Errorf("Claim: %v", err)
					return
				}
				mu.Lock()
				claimed[e.ID]++
				total := len(claimed)
				for _, n := range claimed {
					total += n - 1
				}
				mu.Unlock()
				if total > 2*msgs {
					t.Error("Claim keeps handing out claimed messages")
					return
				}
				// Half the workers also record an outcome concurrently.
				if e.ID[len(e.ID)-1]%2 == 0 {
					if err := q.Modify(ctx(), e.ID, func(x *queue.Envelope) error {
						if x.Lease.Token != e.Lease.Token {
							return fmt.Errorf("lease changed hands: %+v vs %+v", x.Lease, e.Lease)
						}
						x.Recipients[0].State = queue.Deferred
						return nil
					}); err != nil {
						t.Errorf("Modify: %v", err)
					}
				}
			}
		})
	}
	wg.Wait()
	if len(claimed) != msgs {
		t.Errorf("%d distinct messages claimed, want %d", len(claimed), msgs)
	}
	for id, n := range claimed {
		if n != 1 {
			t.Errorf("message %s claimed %d times during one lease", id, n)
		}
	}
}

func (s suite) concurrentStores(t *testing.T) {
	q := s.o.New(t)
	const writers, each = 8, 25
	ids := make(chan queue.ID, writers*each)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				e := sample(w*each + i)
				if err := q.Store(ctx(), e, bytes.NewReader(bodyOf(w*each+i))); err != nil {
					t.Errorf("Store: %v", err)
					return
				}
				ids <- e.ID
			}
		})
	}
	wg.Wait()
	close(ids)
	seen := map[queue.ID]bool{}
	for id := range ids {
		if seen[id] {
			t.Errorf("two Stores got ID %s", id)
		}
		seen[id] = true
		e := get(t, q, id)
		var n int
		fmt.Sscanf(e.EnvID, "env-%d", &n)
		if b := readBody(t, q, id); !bytes.Equal(b, bodyOf(n)) {
			t.Errorf("%s: body %q does not belong to envelope %s", id, b, e.EnvID)
		}
	}
	if n := count(t, q); n != writers*each {
		t.Errorf("Walk sees %d messages, want %d", n, writers*each)
	}
}

// pattern is a deterministic stream of n bytes that is never in memory
// whole.
type pattern struct{ off, n int64 }

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n-p.off)]
	for i := range b {
		x := p.off + int64(i)
		b[i] = byte(x*7 + x>>13)
	}
	p.off += int64(len(b))
	return len(b), nil
}

func (s suite) bigBody(t *testing.T) {
	q := s.o.New(t)
	n := s.o.BigBody
	want := sha256.New()
	io.Copy(want, &pattern{n: n})
	e := sample(1)
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	if err := q.Store(ctx(), e, &pattern{n: n}); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&m1)
	if alloc := m1.TotalAlloc - m0.TotalAlloc; s.o.Streaming && alloc > uint64(n/4) {
		t.Errorf("Store of a %d-byte body allocated %d bytes: the body is not streamed", n, alloc)
	}
	if e.Size != n {
		t.Errorf("Size = %d, want %d", e.Size, n)
	}
	rc, err := q.Body(ctx(), e.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got := sha256.New()
	if k, err := io.Copy(got, rc); err != nil || k != n {
		t.Fatalf("read back %d bytes, err %v; want %d", k, err, n)
	}
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Error("large body read back differs")
	}
}

func (s suite) canceled(t *testing.T) {
	q := s.o.New(t)
	c, cancel := context.WithCancel(ctx())
	cancel()
	if err := q.Store(c, sample(1), bytes.NewReader(bodyOf(1))); !errors.Is(err, context.Canceled) {
		t.Errorf("Store with a canceled context = %v", err)
	}
	if n := count(t, q); n != 0 {
		t.Errorf("canceled Store left %d messages", n)
	}
}

func (s suite) durability(t *testing.T) {
	q := s.o.New(t)
	type rec struct {
		env  queue.Envelope
		body []byte
	}
	want := map[queue.ID]rec{}
	for i := range 30 {
		e := sample(i)
		if i%5 == 0 {
			e.Held = true
		}
		body := bodyOf(i)
		s.store(t, q, e, body)
		want[e.ID] = rec{e.Clone(), body}
	}
	// Change some, claim some, remove some.
	i := 0
	for id, r := range want {
		switch i % 4 {
		case 1:
			if err := q.Modify(ctx(), id, func(e *queue.Envelope) error {
				e.Recipients[0].State, e.Recipients[0].Reason, e.Recipients[0].Updated = queue.Deferred, "421 busy", BaseTime.Add(time.Hour)
				e.Attempts++
				e.NextAttempt = BaseTime.Add(time.Duration(i) * time.Minute)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			r.env = get(t, q, id)
			want[id] = r
		case 2:
			if err := q.Remove(ctx(), id); err != nil {
				t.Fatal(err)
			}
			delete(want, id)
		case 3:
			if _, err := q.Claim(ctx(), BaseTime.Add(time.Hour), time.Hour, func(e *queue.Envelope) bool { return e.ID == id }); err != nil && !errors.Is(err, queue.ErrEmpty) {
				t.Fatal(err)
			}
		}
		i++
	}
	order := claimOrder(t, q, s.o.LeasesPersist)
	leases := map[queue.ID]queue.Lease{}
	for id := range want {
		leases[id] = get(t, q, id).Lease
	}
	q = s.o.Reopen(t, q)
	if n := count(t, q); n != len(want) {
		t.Errorf("after reopen %d messages, want %d", n, len(want))
	}
	for id, r := range want {
		g, err := q.Get(ctx(), id)
		if err != nil {
			t.Errorf("after reopen: %s: %v", id, err)
			continue
		}
		if l := leases[id]; !s.o.LeasesPersist && g.Lease.Token != 0 {
			t.Errorf("%s: lease survived a restart: %+v", id, g.Lease)
		} else if s.o.LeasesPersist && (g.Lease.Token != l.Token || !g.Lease.Until.Equal(l.Until)) {
			t.Errorf("%s: lease after reopen %+v, want %+v", id, g.Lease, l)
		}
		same(t, "after reopen "+string(id), g, r.env)
		if b := readBody(t, q, id); !bytes.Equal(b, r.body) {
			t.Errorf("%s: body after reopen %q, want %q", id, b, r.body)
		}
	}
	// The schedule is rebuilt: same due order (leases gone, or kept by a
	// shared backend), held messages still held.
	if got := claimAll(t, q, BaseTime.Add(1000*time.Hour)); !slices.Equal(got, order) {
		t.Errorf("due order after reopen %v, want %v", got, order)
	}
	// The reopened queue takes new mail and keeps it across another reopen.
	e := sample(99)
	s.store(t, q, e, bodyOf(99))
	q = s.o.Reopen(t, q)
	if b := readBody(t, q, e.ID); !bytes.Equal(b, bodyOf(99)) {
		t.Errorf("message stored after a reopen: body %q", b)
	}
}

// claimOrder returns the due order of the unheld messages by sorting what
// Walk reports the way Claim must; withLeases counts a lease's end as the
// due time of a claimed message.
func claimOrder(t *testing.T, q queue.Queue, withLeases bool) []queue.ID {
	var es []queue.Envelope
	if err := q.Walk(ctx(), func(e *queue.Envelope) error {
		if !e.Held {
			es = append(es, e.Clone())
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	due := func(e queue.Envelope) time.Time {
		if withLeases && e.Lease.Token != 0 && e.Lease.Until.After(e.NextAttempt) {
			return e.Lease.Until
		}
		return e.NextAttempt
	}
	slices.SortFunc(es, func(a, b queue.Envelope) int {
		if c := due(a).Compare(due(b)); c != 0 {
			return c
		}
		if c := a.Arrival.Compare(b.Arrival); c != 0 {
			return c
		}
		return strings.Compare(string(a.ID), string(b.ID))
	})
	ids := make([]queue.ID, len(es))
	for i := range es {
		ids[i] = es[i].ID
	}
	return ids
}
