package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// channel is the queue's NOTIFY channel: <prefix>queue.
func (q *Queue) channel() string { return q.p + "queue" }

// notifyTx tells every listening process, when tx commits, that mail may
// have become claimable. PostgreSQL delivers a notification only on
// commit, and folds identical ones of one transaction into one.
func (q *Queue) notifyTx(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, q.channel()); err != nil {
		return fmt.Errorf("queue/postgres: notify: %w", err)
	}
	return nil
}

// Wakeups implements queue.Waker: a value arrives when any process
// stored mail or made mail claimable (Flush, Release, a dead node's
// claims returned), so that idle Schedulers claim at once rather than at
// their next poll. The first call starts a listener on one connection
// of the pool, kept until Close; when that connection fails the listener
// connects again after a second, and sends a wakeup then (a
// notification may have been missed meanwhile).
func (q *Queue) Wakeups() <-chan struct{} {
	q.listen.once.Do(func() {
		q.listen.ch = make(chan struct{}, 1)
		ctx, cancel := context.WithCancel(context.Background())
		q.listen.cancel = cancel
		q.listen.wg.Go(func() { q.listenLoop(ctx) })
	})
	return q.listen.ch
}

// listener is the goroutine behind Wakeups.
type listener struct {
	once   sync.Once
	ch     chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (l *listener) stop() {
	l.once.Do(func() {}) // no listener may start after Close
	if l.cancel != nil {
		l.cancel()
	}
	l.wg.Wait()
}

func (l *listener) wake() {
	select {
	case l.ch <- struct{}{}:
	default:
	}
}

func (q *Queue) listenLoop(ctx context.Context) {
	for {
		err := q.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		q.log.Warn("queue/postgres: listening for notifications failed; polling until it is back", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		q.listen.wake()
	}
}

// listenOnce holds one connection in LISTEN until it fails or ctx ends.
func (q *Queue) listenOnce(ctx context.Context) error {
	conn, err := q.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The connection is in LISTEN state: never hand it back to the pool.
	c := conn.Hijack()
	defer c.Close(context.Background())
	if _, err := c.Exec(ctx, `LISTEN `+pgx.Identifier{q.channel()}.Sanitize()); err != nil {
		return err
	}
	for {
		if _, err := c.WaitForNotification(ctx); err != nil {
			return err
		}
		q.listen.wake()
	}
}

// NextDue implements queue.Waker: the due time of the first message not
// held (its next attempt, or the end of its claim), from the index the
// claims use.
func (q *Queue) NextDue(ctx context.Context) (time.Time, bool, error) {
	var due int64
	err := q.pool.QueryRow(ctx, q.sql(`SELECT `+dueKey+` FROM %smessages WHERE NOT held ORDER BY `+dueKey+` LIMIT 1`)).Scan(&due)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("queue/postgres: %w", err)
	}
	return fromNanos(due), true, nil
}
