package queue_test

import (
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/queue"
)

// TestTransportLimits: a transport's own per-destination limit replaces
// Concurrency for its destinations
// (TRANSPORT_destination_concurrency_limit), and its process limit caps
// its deliveries over all its destinations (master.cf maxproc), as
// Postfix's qmgr applies them; other transports keep Concurrency.
func TestTransportLimits(t *testing.T) {
	s, c := newSched(t, queue.Config{Concurrency: 3, Transports: map[string]queue.TransportLimits{
		"smtp-amavis": {Processes: 2},
		"relay":       {Concurrency: 1},
	}})
	var amavis, relay, smtp []queue.ID
	for i := range 3 {
		// Three filter destinations: the process limit, not the
		// per-destination one, holds the third back.
		amavis = append(amavis, storeDest(t, s, "u@a.example", "smtp-amavis:[127.0.0.1]:1002"+string(rune('4'+i))))
		c.Advance(time.Second)
	}
	for range 2 {
		relay = append(relay, storeDest(t, s, "u@r.example", "relay:[mx.example]"))
		c.Advance(time.Second)
	}
	for range 2 {
		smtp = append(smtp, storeDest(t, s, "u@s.example", "smtp:s.example"))
		c.Advance(time.Second)
	}
	var got []queue.ID
	var first *queue.Delivery
	for {
		d, err := s.Claim(t.Context())
		if err != nil {
			break
		}
		if first == nil {
			first = d
		}
		got = append(got, d.Envelope.ID)
	}
	want := []queue.ID{amavis[0], amavis[1], relay[0], smtp[0], smtp[1]}
	if len(got) != len(want) {
		t.Fatalf("claimed %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("claimed %v, want %v", got, want)
		}
	}
	done(t, s, first, []queue.Outcome{{Recipient: 0, State: queue.Delivered}})
	if d := claim(t, s); d.Envelope.ID != amavis[2] {
		t.Errorf("after a filter delivery ended: %s, want %s", d.Envelope.ID, amavis[2])
	}
	noClaim(t, s, "relay at its transport's limit of 1")
}
