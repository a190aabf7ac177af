package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/transport"
	"github.com/mxrelay/mxrelay/transport/client"
)

// TestDeliveryGroupsByRoute: recipients sharing a route (destinations
// compared case-insensitively) go in one delivery, others in their own;
// each recipient's outcome is applied alone (2xx sent, 4xx deferred, 5xx
// and routing failures bounced), and one DSN from <> reports the bounces
// to the sender.
func TestDeliveryGroupsByRoute(t *testing.T) {
	var mu sync.Mutex
	var calls []string // "nexthop from rcpt,rcpt"
	var attempts []Attempt
	router := RouterFunc(func(ctx context.Context, rcpt string) (transport.Route, error) {
		_, dom, _ := strings.Cut(rcpt, "@")
		switch strings.ToLower(dom) {
		case "one.example":
			return transport.Route{Recipient: rcpt, Transport: "relay", Nexthop: "[" + dom + "]"}, nil // case differs
		case "two.example", "sender.example":
			return transport.Route{Recipient: rcpt, Transport: "relay", Nexthop: "[" + dom + "]"}, nil
		}
		return transport.Route{}, &transport.Error{Code: 550, Status: "5.1.2", Text: "Host or domain name not found"}
	})
	agent := DelivererFunc(func(ctx context.Context, rt transport.Route, m *client.Message) *transport.Delivery {
		var rcpts []string
		d := &transport.Delivery{}
		for _, rc := range m.Recipients {
			rcpts = append(rcpts, rc.Address)
			res := transport.RecipientResult{Recipient: rc.Address, Status: client.Delivered, Reply: reply(t, "250 2.0.0 Ok")}
			switch {
			case strings.HasPrefix(rc.Address, "later@"):
				res.Status, res.Reply = client.Deferred, reply(t, "450 4.2.0 try later")
			case strings.HasPrefix(rc.Address, "gone@"):
				res.Status, res.Reply = client.Failed, reply(t, "550 5.1.1 no such user")
			}
			d.Recipients = append(d.Recipients, res)
		}
		mu.Lock()
		calls = append(calls, fmt.Sprintf("%s <%s> %s", strings.ToLower(rt.Nexthop), m.From, strings.Join(rcpts, ",")))
		mu.Unlock()
		return d
	})
	mem := queue.NewMemory()
	sched := queue.NewScheduler(mem, queue.Config{MinimalBackoff: time.Hour, MaximalBackoff: time.Hour, Poll: 10 * time.Millisecond})
	r, err := New(Config{
		Hostname: "mx2.example.test",
		Policy:   CheckerFunc(func(context.Context, *policy.Request) policy.Decision { return policy.Decision{} }),
		Queue:    sched, Router: router, Agent: agent, Workers: 1,
		Observer: ObserverFuncs{AttemptedFunc: func(a Attempt) {
			mu.Lock()
			attempts = append(attempts, a)
			mu.Unlock()
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	env := &queue.Envelope{Sender: "s@sender.example", Recipients: []queue.Recipient{
		{Address: "a@one.example"}, {Address: "gone@two.example"}, {Address: "later@ONE.example"}, {Address: "x@nowhere.example"},
	}}
	if err := sched.Store(ctx, env, strings.NewReader("Subject: x\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	waitFor(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(calls) == 3 && len(attempts) == 5 // 4 recipients, then the DSN
	})
	cancel()
	<-done

	mu.Lock()
	defer mu.Unlock()
	want := []string{
		"[one.example] <s@sender.example> a@one.example,later@ONE.example",
		"[two.example] <s@sender.example> gone@two.example",
		"[sender.example] <> s@sender.example",
	}
	// The message's two destinations are tried concurrently, in either
	// order; the bounce comes after both.
	got := slices.Clone(calls)
	slices.Sort(got[:min(2, len(got))])
	if !slices.Equal(got, want) {
		t.Errorf("deliveries:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
	status := map[string]string{}
	for _, a := range attempts {
		status[a.Recipient] = a.Status + " " + a.DSN
	}
	for rcpt, st := range map[string]string{
		"a@one.example": "sent 2.0.0", "later@ONE.example": "deferred 4.2.0", "gone@two.example": "bounced 5.1.1",
		"x@nowhere.example": "bounced 5.1.2", "s@sender.example": "sent 2.0.0",
	} {
		if status[rcpt] != st {
			t.Errorf("%s: %q, want %q", rcpt, status[rcpt], st)
		}
	}
	// The deferred recipient keeps the message queued.
	if mem.Len() != 1 {
		t.Errorf("queue holds %d messages, want the one with a deferred recipient", mem.Len())
	}
}

func reply(t *testing.T, s string) client.Reply {
	r, err := client.ParseReply(s)
	if err != nil {
		t.Error(err) // called from delivery workers: no Fatal
	}
	return r
}

// unreadableBodies is a queue whose message bodies cannot be read.
type unreadableBodies struct{ *queue.Memory }

func (unreadableBodies) Body(context.Context, queue.ID) (io.ReadCloser, error) {
	return nil, errors.New("open /var/spool/mxrelay/secret/body: permission denied")
}

// TestQueueReadErrorStaysInternal: a body the queue cannot read defers
// the recipients as "queue file read error" (4.3.0); the cause (a path)
// goes to the log, not into the reason that DSNs carry to senders.
func TestQueueReadErrorStaysInternal(t *testing.T) {
	var logs syncBuffer
	attempts := make(chan Attempt, 10)
	q := unreadableBodies{queue.NewMemory()}
	sched := queue.NewScheduler(q, queue.Config{MinimalBackoff: time.Hour, MaximalBackoff: time.Hour})
	r, err := New(Config{
		Hostname: "mx2.example.test",
		Policy:   CheckerFunc(func(context.Context, *policy.Request) policy.Decision { return policy.Decision{} }),
		Queue:    sched, Workers: 1, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Router: RouterFunc(func(ctx context.Context, rcpt string) (transport.Route, error) {
			return transport.Route{Recipient: rcpt, Transport: "relay", Nexthop: "[primary.example.test]"}, nil
		}),
		Agent: DelivererFunc(func(context.Context, transport.Route, *client.Message) *transport.Delivery {
			t.Error("delivered without a body")
			return nil
		}),
		Observer: ObserverFuncs{AttemptedFunc: func(a Attempt) { attempts <- a }},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := sched.Store(ctx, &queue.Envelope{Sender: "s@sender.example", Recipients: []queue.Recipient{{Address: "u@example.test"}}}, strings.NewReader("x\r\n")); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	a := <-attempts
	cancel()
	<-done
	if a.Status != "deferred" || a.DSN != "4.3.0" || a.Reason != "queue file read error" {
		t.Errorf("attempt %+v", a)
	}
	if !strings.Contains(logs.String(), "permission denied") {
		t.Errorf("the cause is not logged:\n%s", logs.String())
	}
}

// TestResolverFailureStaysInternal: a transport_maps table that cannot be
// read defers the recipient (4.3.0) as Postfix's "address resolver
// failure"; which table and why goes to the log only.
func TestResolverFailureStaysInternal(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	relayDomains, _, err := lookup.ParseList(ctx, "example.test", lookup.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	broken := lookup.TableFunc(func(ctx context.Context, key string) (string, bool, error) {
		return "", false, &lookup.Error{Table: "hash:/etc/postfix/secret_transport", Key: key, Kind: lookup.Temporary, Err: errors.New("database locked")}
	})
	router, err := transport.NewRouter(transport.RouterConfig{
		Domains: &lookup.Domains{RelayDomains: relayDomains}, MyHostname: "mx2.example.test",
		TransportMaps: []lookup.Table{broken},
	})
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	attempts := make(chan Attempt, 10)
	sched := queue.NewScheduler(queue.NewMemory(), queue.Config{MinimalBackoff: time.Hour, MaximalBackoff: time.Hour})
	r, err := New(Config{
		Hostname: "mx2.example.test",
		Policy:   CheckerFunc(func(context.Context, *policy.Request) policy.Decision { return policy.Decision{} }),
		Queue:    sched, Workers: 1, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Router: router,
		Agent: DelivererFunc(func(context.Context, transport.Route, *client.Message) *transport.Delivery {
			t.Error("delivered without a route")
			return nil
		}),
		Observer: ObserverFuncs{AttemptedFunc: func(a Attempt) { attempts <- a }},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sched.Store(ctx, &queue.Envelope{Sender: "s@sender.example", Recipients: []queue.Recipient{{Address: "u@example.test"}}}, strings.NewReader("x\r\n")); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	a := <-attempts
	cancel()
	<-done
	if a.Status != "deferred" || a.DSN != "4.3.0" || a.Reason != "address resolver failure" {
		t.Errorf("attempt %+v", a)
	}
	if !strings.Contains(logs.String(), "secret_transport") {
		t.Errorf("the cause is not logged:\n%s", logs.String())
	}
}
