package relay

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/queue"
)

// TestDelayDSNPerDomainLifetime: a recipient domain kept 20 days
// (queue.Config.Domains) is told so in the delay DSN, in the text and in
// its own Will-Retry-Until, while a recipient of another domain keeps the
// default 5 days.
func TestDelayDSNPerDomainLifetime(t *testing.T) {
	ctx := context.Background()
	mem := queue.NewMemory()
	sched := queue.NewScheduler(mem, queue.Config{
		Lifetimes: queue.Lifetimes{DelayWarning: 4 * time.Hour},
		Domains:   map[string]queue.Lifetimes{"backup.example": {Maximal: 20 * 24 * time.Hour}},
	})
	r, err := New(Config{
		Hostname: "mx2.example.net",
		Policy:   CheckerFunc(func(context.Context, *policy.Request) policy.Decision { return policy.Decision{} }),
		Queue:    sched,
	})
	if err != nil {
		t.Fatal(err)
	}
	arrival := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	env := &queue.Envelope{ID: "4ABCDEF", Sender: "s@sender.example", Arrival: arrival, Recipients: []queue.Recipient{
		{Address: "u@backup.example", State: queue.Deferred, Reason: "connect timed out"},
		{Address: "v@other.example", State: queue.Deferred, Reason: "connect timed out"},
	}}
	if err := r.sendDSN(ctx, env, DSNDelay, []int{0}, nil); err != nil {
		t.Fatal(err)
	}
	if err := r.sendDSN(ctx, env, DSNDelay, []int{1}, nil); err != nil {
		t.Fatal(err)
	}
	var bodies []string
	mem.Walk(ctx, func(e *queue.Envelope) error {
		rc, err := mem.Body(ctx, e.ID)
		if err != nil {
			return err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		bodies = append(bodies, string(b))
		return err
	})
	if len(bodies) != 2 {
		t.Fatalf("%d DSNs queued, want 2", len(bodies))
	}
	var long, short string
	for _, b := range bodies {
		if strings.Contains(b, "u@backup.example") {
			long = b
		} else {
			short = b
		}
	}
	for _, want := range []string{
		"It will be retried until it is 20 day(s) old.",
		"Will-Retry-Until: " + MailDate(arrival.Add(20*24*time.Hour)),
	} {
		if !strings.Contains(long, want) {
			t.Errorf("the 20-day domain's warning lacks %q:\n%s", want, long)
		}
	}
	for _, want := range []string{
		"It will be retried until it is 5 day(s) old.",
		"Will-Retry-Until: " + MailDate(arrival.Add(5*24*time.Hour)),
	} {
		if !strings.Contains(short, want) {
			t.Errorf("the default domain's warning lacks %q:\n%s", want, short)
		}
	}
}
