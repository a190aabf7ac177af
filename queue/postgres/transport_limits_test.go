package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/queue/postgres"
)

// TestTransportLimitsShared: a transport's process limit and its own
// per-destination limit (queue.Config.Transports) hold for the cluster:
// what one node claimed counts on the other.
func TestTransportLimitsShared(t *testing.T) {
	ctx := context.Background()
	qs := nodes(t, 2, postgres.Options{})
	cfg := queue.Config{Concurrency: 5, Transports: map[string]queue.TransportLimits{
		"smtp-amavis": {Processes: 1},
		"relay":       {Concurrency: 1},
	}}
	a, b := queue.NewScheduler(qs[0], cfg), queue.NewScheduler(qs[1], cfg)
	store := func(dest string) queue.ID {
		e := &queue.Envelope{Sender: "s@example.org", Recipients: []queue.Recipient{{Address: "u@example.test", Destination: dest}}}
		if err := a.Store(ctx, e, bytes.NewReader([]byte("hi"))); err != nil {
			t.Fatal(err)
		}
		return e.ID
	}
	store("smtp-amavis:[127.0.0.1]:10024")
	store("smtp-amavis:[127.0.0.1]:10026") // another destination, the same filter service
	store("relay:[mx.example]")
	store("relay:[mx.example]")
	var got []string
	for _, s := range []*queue.Scheduler{a, b, a, b} {
		d, err := s.Claim(ctx)
		if errors.Is(err, queue.ErrEmpty) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, d.Envelope.Recipients[0].Destination)
	}
	if len(got) != 2 || got[0] == got[1] {
		t.Fatalf("the two nodes claimed %q: want one filter delivery and one relay delivery", got)
	}
}
