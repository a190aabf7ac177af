package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mxrelay/mxrelay/queue"
)

var _ queue.Shared = (*Queue)(nil)

// Claim implements queue.Queue with SELECT ... FOR UPDATE SKIP LOCKED:
// rows another transaction is claiming are passed over, never handed out
// twice.
func (q *Queue) Claim(ctx context.Context, now time.Time, lease time.Duration, accept func(*queue.Envelope) bool) (queue.Envelope, error) {
	return q.claim(ctx, now, lease, nil, func(e *queue.Envelope) ([]string, bool) {
		return nil, accept == nil || accept(e)
	})
}

// ClaimSlots implements queue.Shared: Claim that also takes a
// concurrency slot of each destination accept returns, in the claim's
// transaction, unless one of them, d, has limit(d) live claims already (of
// any node). Claims that count the same destination take turns on an
// advisory lock of its own, held while one message's slots are counted
// and taken, and never while waiting for another: no deadlock.
func (q *Queue) ClaimSlots(ctx context.Context, now time.Time, lease time.Duration, limit func(string) int, accept func(*queue.Envelope) ([]string, bool)) (queue.Envelope, error) {
	return q.claim(ctx, now, lease, limit, accept)
}

type dueRow struct {
	id           string
	rec          []byte
	key, arrival int64
	token, until int64
}

func (q *Queue) claim(ctx context.Context, now time.Time, lease time.Duration, limit func(string) int, accept func(*queue.Envelope) ([]string, bool)) (queue.Envelope, error) {
	if err := ctx.Err(); err != nil {
		return queue.Envelope{}, err
	}
	// Claims of one destination take turns anyway (its advisory lock):
	// a few at a time per process leave the pool's other connections to
	// the Stores and the Dones.
	select {
	case q.claimSem <- struct{}{}:
	case <-ctx.Done():
		return queue.Envelope{}, ctx.Err()
	}
	defer func() { <-q.claimSem }()
	conn, err := q.pool.Acquire(ctx)
	if err != nil {
		return queue.Envelope{}, fmt.Errorf("queue/postgres: %w", err)
	}
	c := &claimer{q: q, conn: conn, now: now.UnixNano(), limit: limit, full: map[string]bool{}}
	defer c.release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return queue.Envelope{}, fmt.Errorf("queue/postgres: %w", err)
	}
	defer tx.Rollback(ctx)
	c.tx = tx
	// A claim's commit need not wait for the WAL flush: the destination
	// locks it holds are freed sooner, and a claim lost when the database
	// server crashes only makes the message claimable again (delivered
	// twice at worst, as after any crash). Stores and Modify stay
	// synchronous.
	if _, err := tx.Exec(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
		return queue.Envelope{}, fmt.Errorf("queue/postgres: %w", err)
	}
	var last *dueRow
	for examined, size := 0, firstBatch; examined < maxExamine; size = claimBatch {
		batch, err := c.due(ctx, last, size)
		if err != nil {
			return queue.Envelope{}, err
		}
		for i := range batch {
			r := &batch[i]
			last = r
			examined++
			e, err := decode(queue.ID(r.id), r.rec, r.token, r.until)
			if err != nil {
				continue // corrupt: never handed out; Get reports it
			}
			dests, ok := accept(e)
			if !ok {
				for _, d := range dests {
					c.full[d] = true
				}
				continue
			}
			if ok, err := c.lock(ctx, r); err != nil || !ok {
				if err != nil {
					return queue.Envelope{}, err
				}
				continue
			}
			taken, err := c.take(ctx, e, r.id, dests, now.Add(lease))
			if err != nil {
				return queue.Envelope{}, err
			}
			if taken {
				return *e, nil
			}
		}
		if len(batch) < size {
			break
		}
	}
	return queue.Envelope{}, queue.ErrEmpty
}

// claimer is one claim's transaction.
type claimer struct {
	q      *Queue
	conn   *pgxpool.Conn
	tx     pgx.Tx
	now    int64
	limit  func(string) int // nil: no slots
	full   map[string]bool  // destinations found at their limit
	locked bool             // session advisory locks may be held
}

// release frees the advisory locks and the connection; a connection
// whose locks cannot be freed is closed, which frees them.
func (c *claimer) release() {
	if c.locked {
		if _, err := c.conn.Exec(context.Background(), `SELECT pg_advisory_unlock_all()`); err != nil {
			c.conn.Conn().Close(context.Background())
		}
	}
	c.conn.Release()
}

// firstBatch is the size of a claim's first read: usually the first due
// message is taken, so it reads (and decodes) few; later reads, past
// messages refused, take claimBatch.
const firstBatch = 8

// due reads the next size due messages after last, without locking
// them: a claim locks only the message it takes (lock), so that the
// messages it passes over (at their concurrency limit) do not hold up
// the other claims.
func (c *claimer) due(ctx context.Context, last *dueRow, size int) ([]dueRow, error) {
	q := c.q
	args := []any{c.now, size}
	after, skip := "", ""
	if last != nil {
		args = append(args, last.key, last.arrival, last.id)
		after = fmt.Sprintf(` AND (`+dueKey+`, arrival, id) > ($%d, $%d, $%d)`, len(args)-2, len(args)-1, len(args))
	}
	// Messages of destinations found at their limit are passed over by
	// the server (dests NULL: a row from before the column, examined).
	if len(c.full) > 0 {
		var full []string
		for d := range c.full {
			full = append(full, d)
		}
		args = append(args, full)
		skip = fmt.Sprintf(` AND (dests IS NULL OR NOT (string_to_array(dests, E'\n') && $%d::text[]))`, len(args))
	}
	rows, err := c.tx.Query(ctx, q.sql(`SELECT id, env, `+dueKey+`, arrival, lease_token, lease_until
		FROM %smessages WHERE NOT held AND `+dueKey+` <= $1`+after+skip+`
		ORDER BY `+dueKey+`, arrival, id LIMIT $2`), args...)
	if err != nil {
		return nil, fmt.Errorf("queue/postgres: %w", err)
	}
	defer rows.Close()
	var batch []dueRow
	for rows.Next() {
		var r dueRow
		if err := rows.Scan(&r.id, &r.rec, &r.key, &r.arrival, &r.token, &r.until); err != nil {
			return nil, fmt.Errorf("queue/postgres: %w", err)
		}
		batch = append(batch, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queue/postgres: %w", err)
	}
	return batch, nil
}

// lock locks the row of r with SELECT ... FOR UPDATE SKIP LOCKED, and
// reports whether it is still as read and due: a row another claim holds
// or changed meanwhile is passed over, never handed out twice.
func (c *claimer) lock(ctx context.Context, r *dueRow) (bool, error) {
	var rec []byte
	var token int64
	err := c.tx.QueryRow(ctx, c.q.sql(`SELECT env, lease_token FROM %smessages
		WHERE id = $1 AND NOT held AND `+dueKey+` <= $2 FOR UPDATE SKIP LOCKED`), r.id, c.now).Scan(&rec, &token)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("queue/postgres: %w", err)
	}
	return token == r.token && bytes.Equal(rec, r.rec), nil
}

// destLock is the advisory lock of one destination of one queue.
func (q *Queue) destLock(dest string) int64 {
	h := fnv.New64a()
	h.Write([]byte("mxrelay queue slots " + q.p + "\x00" + dest))
	return int64(h.Sum64())
}

// take gives message id (locked) the claim's lease, with one slot of
// each of dests unless one of them is at the limit, and commits; it
// reports whether it did. With no limit or no dests it takes no slot.
//
// Claims of a destination take turns on its advisory lock from the
// count of its slots to the commit, so that section is short: the lock,
// one statement (count, draw the token, take the slots, lease, drop an
// earlier claim's slots), the commit, the unlock. (It was eight round
// trips; see BENCHMARKS.md.)
func (c *claimer) take(ctx context.Context, e *queue.Envelope, id string, dests []string, until time.Time) (bool, error) {
	q := c.q
	if c.limit == nil || len(dests) == 0 {
		dests = nil
	}
	for _, d := range dests {
		if c.full[d] {
			return false, nil
		}
	}
	dests = slices.Sorted(slices.Values(dests))
	keys := make([]int64, len(dests))
	limits := make([]int32, len(dests))
	for i, d := range dests {
		keys[i], limits[i] = q.destLock(d), int32(c.limit(d))
	}
	if len(keys) > 0 {
		c.locked = true
	}
	// In sorted order: two claims never wait for each other's locks.
	for _, k := range keys {
		if _, err := c.conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, k); err != nil {
			return false, fmt.Errorf("queue/postgres: %w", err)
		}
	}
	var atLimit []string
	var token *int64
	if err := c.tx.QueryRow(ctx, q.sql(`WITH lim AS (
			SELECT * FROM unnest($1::text[], $3::int4[]) AS l(dest, n)
		), atlimit AS (
			SELECT s.dest FROM %[1]sslots s
			JOIN %[1]smessages m ON m.id = s.id AND m.lease_token = s.token
			JOIN lim ON lim.dest = s.dest
			WHERE s.dest = ANY($1) AND m.lease_until > $2
			GROUP BY s.dest, lim.n HAVING count(*) >= lim.n
		), tok AS (
			SELECT nextval('%[1]slease_seq') AS t WHERE NOT EXISTS (SELECT 1 FROM atlimit)
		), slots AS (
			INSERT INTO %[1]sslots (dest, id, token) SELECT d, $4, tok.t FROM unnest($1::text[]) AS d, tok
		), leased AS (
			UPDATE %[1]smessages SET lease_token = tok.t, lease_until = $5, lease_node = $6 FROM tok WHERE id = $4
		), stale AS (
			-- slots of an earlier claim that ended with its lease
			DELETE FROM %[1]sslots USING tok WHERE %[1]sslots.id = $4 AND %[1]sslots.token <> tok.t
		)
		SELECT (SELECT array_agg(dest) FROM atlimit), (SELECT t FROM tok)`),
		dests, c.now, limits, id, until.UnixNano(), q.node.id.Load()).Scan(&atLimit, &token); err != nil {
		return false, fmt.Errorf("queue/postgres: %w", err)
	}
	if token == nil {
		for _, d := range atLimit {
			c.full[d] = true
		}
		// Held only while counting: another claim may take these now.
		_, err := c.conn.Exec(ctx, `SELECT pg_advisory_unlock(k) FROM unnest($1::int8[]) AS t(k)`, keys)
		return false, err
	}
	// The locks stay until the commit (then release): the slots are not
	// counted by others before they commit.
	if err := c.tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("queue/postgres: commit: %w", err)
	}
	e.Lease = queue.Lease{Token: uint64(*token), Until: fromNanos(until.UnixNano())}
	return true, nil
}
