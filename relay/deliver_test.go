package relay

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

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
	if !slices.Equal(calls, want) {
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
