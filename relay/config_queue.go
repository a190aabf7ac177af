package relay

import (
	"time"

	"github.com/mxrelay/mxrelay/queue"
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
	}
}

// lifetime maps Postfix's 0 (a single attempt) to the queue's negative.
func lifetime(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
