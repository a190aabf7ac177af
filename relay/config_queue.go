package relay

import (
	"slices"
	"time"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/maincf"
)

// queueConfig builds the queue manager's configuration: the retry
// schedule, the lifetimes and the per-destination concurrency.
func queueConfig(r *reader) queue.Config {
	return queue.Config{
		MinimalBackoff: r.duration("minimal_backoff_time"),
		MaximalBackoff: r.duration("maximal_backoff_time"),
		Lifetimes: queue.Lifetimes{
			Maximal:      lifetime(r.duration("maximal_queue_lifetime")),
			Bounce:       lifetime(r.duration("bounce_queue_lifetime")),
			DelayWarning: r.duration("delay_warning_time"),
		},
		Concurrency: r.code("default_destination_concurrency_limit"),
		Transports:  transportLimits(r),
	}
}

// deliveryTransports are the transports whose limits main.cf may set:
// smtp, relay and lmtp, and the unix services of master.cf that run smtp
// or lmtp (a content filter's "smtp-amavis"), sorted.
func deliveryTransports(r *reader) []string {
	out := []string{"lmtp", "relay", "smtp"}
	for t := range r.cf.Transports() {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

// transportLimits reads the concurrency limits of each transport, as
// Postfix's qmgr applies them (qmgr_transport.c, qmgr_queue.c):
// TRANSPORT_destination_concurrency_limit per destination when main.cf
// sets it (qmgr reads main.cf, not the service's -o; the default is
// $default_destination_concurrency_limit, queue.Config's Concurrency),
// and the process limit (maxproc) of its master.cf
// service over all its destinations. Nil when no transport has one of
// its own.
func transportLimits(r *reader) map[string]queue.TransportLimits {
	var out map[string]queue.TransportLimits
	def := r.code("default_destination_concurrency_limit")
	for _, t := range deliveryTransports(r) {
		var l queue.TransportLimits
		name := t + "_destination_concurrency_limit"
		if r.cf.IsSet(name) {
			switch n := r.code(name); {
			case n < 1 && r.cf.IsSet(name):
				r.fail(&maincf.ValueError{Param: name, Value: r.str(name), Reason: "must be at least 1"})
			case n >= 1 && n != def:
				l.Concurrency = n
			}
		}
		l.Processes = r.cf.ProcessLimit(t)
		if l != (queue.TransportLimits{}) {
			if out == nil {
				out = make(map[string]queue.TransportLimits)
			}
			out[t] = l
		}
	}
	return out
}

// recipientLimits reads TRANSPORT_destination_recipient_limit of each
// transport whose limit differs from default_destination_recipient_limit
// (Config.RecipientLimits).
func recipientLimits(r *reader) (def int, by map[string]int) {
	def = r.code("default_destination_recipient_limit")
	for _, t := range deliveryTransports(r) {
		name := t + "_destination_recipient_limit"
		if !r.cf.IsSet(name) {
			continue // its default is $default_destination_recipient_limit
		}
		if n := r.code(name); n != def {
			if by == nil {
				by = make(map[string]int)
			}
			by[t] = n
		}
	}
	return def, by
}

// lifetime maps Postfix's 0 (a single attempt) to the queue's negative.
func lifetime(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
