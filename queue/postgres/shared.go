package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/mxrelay/mxrelay/queue"
)

// SetDead implements queue.Shared: the marks go to <prefix>dead, where
// every node reads them; a mark never shortens a longer one already
// there, and a zero Until lifts the destination's mark.
func (q *Queue) SetDead(ctx context.Context, marks map[string]queue.DeadMark) error {
	var set, lift []string
	var until []int64
	var reasons, statuses []string
	for d, m := range marks {
		if m.Until.IsZero() {
			lift = append(lift, d)
			continue
		}
		set = append(set, d)
		until = append(until, m.Until.UnixNano())
		reasons = append(reasons, m.Reason)
		statuses = append(statuses, m.Status)
	}
	tx, err := q.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("queue/postgres: %w", err)
	}
	defer tx.Rollback(ctx)
	// Marks that ended an hour ago are nobody's any more.
	if _, err := tx.Exec(ctx, q.sql(`DELETE FROM %sdead WHERE until < $1`), time.Now().Add(-time.Hour).UnixNano()); err != nil {
		return fmt.Errorf("queue/postgres: %w", err)
	}
	if len(lift) > 0 {
		if _, err := tx.Exec(ctx, q.sql(`DELETE FROM %sdead WHERE dest = ANY($1)`), lift); err != nil {
			return fmt.Errorf("queue/postgres: %w", err)
		}
	}
	if len(set) > 0 {
		if _, err := tx.Exec(ctx, q.sql(`INSERT INTO %[1]sdead (dest, until, reason, status)
			SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[])
			ON CONFLICT (dest) DO UPDATE SET until = excluded.until, reason = excluded.reason, status = excluded.status
			WHERE %[1]sdead.until < excluded.until`), set, until, reasons, statuses); err != nil {
			return fmt.Errorf("queue/postgres: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("queue/postgres: commit: %w", err)
	}
	return nil
}

// DeadMarks implements queue.Shared.
func (q *Queue) DeadMarks(ctx context.Context, now time.Time) (map[string]queue.DeadMark, error) {
	rows, err := q.pool.Query(ctx, q.sql(`SELECT dest, until, reason, status FROM %sdead WHERE until > $1`), now.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("queue/postgres: %w", err)
	}
	defer rows.Close()
	marks := make(map[string]queue.DeadMark)
	for rows.Next() {
		var d string
		var m queue.DeadMark
		var until int64
		if err := rows.Scan(&d, &until, &m.Reason, &m.Status); err != nil {
			return nil, fmt.Errorf("queue/postgres: %w", err)
		}
		m.Until = fromNanos(until)
		marks[d] = m
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queue/postgres: %w", err)
	}
	return marks, nil
}
