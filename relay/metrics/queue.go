package metrics

import (
	"context"
	"time"

	"github.com/mxrelay/mxrelay/queue"
)

// queueStates are the states a queued message is counted in, as
// Postfix's queues: incoming (not tried yet), active (being delivered),
// deferred (tried, waiting for the next attempt) and hold.
var queueStates = []string{"incoming", "active", "deferred", "hold"}

// ageBuckets are qshape's age columns, in minutes: a message counts in
// the first bucket its age is below; the last is everything older.
var ageBuckets = []int{5, 10, 20, 40, 80, 160, 320, 640, 1280}

// queueShape is the queue counted by state and age.
type queueShape struct {
	count  [4][10]int
	oldest [4]time.Duration
}

func stateOf(e *queue.Envelope, now time.Time) int {
	switch {
	case e.Held:
		return 3
	case !e.Lease.Until.IsZero() && now.Before(e.Lease.Until):
		return 1
	case e.Attempts > 0:
		return 2
	}
	return 0
}

// walkQueue returns the queue's shape, walked anew when the last walk is
// QueueInterval old (the ages are as of that walk).
func (m *Metrics) walkQueue(ctx context.Context) (*queueShape, error) {
	if m.queue == nil {
		return nil, nil
	}
	m.walkMu.Lock()
	defer m.walkMu.Unlock()
	now := m.now()
	if m.lastQ != nil && m.interval > 0 && now.Sub(m.lastWalk) < m.interval && !now.Before(m.lastWalk) {
		return m.lastQ, nil
	}
	q, err := m.walk(ctx, now)
	if err != nil {
		m.lastQ = nil // a failed walk is not kept: the next scrape tries again
		return nil, err
	}
	m.lastWalk, m.lastQ = now, q
	return q, nil
}

// walk counts the queue's messages by state and age at now.
func (m *Metrics) walk(ctx context.Context, now time.Time) (*queueShape, error) {
	q := &queueShape{}
	err := m.queue.Walk(ctx, func(e *queue.Envelope) error {
		st := stateOf(e, now)
		age := max(now.Sub(e.Arrival), 0)
		b := len(ageBuckets)
		for i, mins := range ageBuckets {
			if age < time.Duration(mins)*time.Minute {
				b = i
				break
			}
		}
		q.count[st][b]++
		q.oldest[st] = max(q.oldest[st], age)
		return nil
	})
	return q, err
}

// ageLabel names bucket i as qshape's column heads do ("5m", ...,
// "1280m", "1280m+"): the upper bound.
func ageLabel(i int) string {
	if i == len(ageBuckets) {
		return "1280m+"
	}
	return itoa(ageBuckets[i]) + "m"
}

func itoa(n int) string { return formatFloat(float64(n)) }

func (q *queueShape) write(e *expo) {
	var rows []row
	for s, name := range queueStates {
		for b := range len(ageBuckets) + 1 {
			rows = append(rows, row{[]string{name, ageLabel(b)}, float64(q.count[s][b])})
		}
	}
	e.labeled("mxrelay_queue_messages", "gauge",
		"Messages in the queue, by state (incoming, active, deferred, hold) and age (qshape's buckets: under 5m, 10m, ... 1280m, then older).",
		[]string{"state", "age"}, rows)
	rows = rows[:0]
	for s, name := range queueStates {
		rows = append(rows, row{[]string{name}, q.oldest[s].Seconds()})
	}
	e.labeled("mxrelay_queue_oldest_message_age_seconds", "gauge", "Age of the oldest message in each state; 0 when there is none.",
		[]string{"state"}, rows)
}
