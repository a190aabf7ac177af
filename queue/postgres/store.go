package postgres

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/mxrelay/mxrelay/queue"
)

// maxBatch caps the messages one group commit stores.
const maxBatch = 256

// batchTimeout bounds a group commit: it runs for every Store in it, so
// no one caller's context may cut it, but it must end.
const batchTimeout = time.Minute

// Store implements queue.Queue. A body of up to 1 MiB joins a group
// commit: the Stores that arrive while a transaction commits share the
// next one, which inserts all their rows with one statement per table
// (measured in BENCHMARKS.md: the cost of a Store was its round trips and
// its commit, not its bytes). A larger body is streamed in 1 MiB chunks
// in a transaction of its own. Either way the message row and its body
// commit together.
func (q *Queue) Store(ctx context.Context, env *queue.Envelope, body io.Reader) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if env.ID == "" {
		env.ID = queue.NewID()
	}
	env.Lease, env.Size = queue.Lease{}, 0
	if _, err := queue.EncodeEnvelope(env); err != nil { // validate before any work
		return err
	}
	var first bytes.Buffer
	n, err := io.CopyN(&first, body, chunkSize+1)
	if err != nil && err != io.EOF {
		return fmt.Errorf("queue: reading body: %w", err)
	}
	if n > chunkSize {
		return q.storeLarge(ctx, env, first.Bytes()[:chunkSize], io.MultiReader(bytes.NewReader(first.Bytes()[chunkSize:]), body))
	}
	env.Size = n
	rec, err := queue.EncodeEnvelope(env)
	if err != nil {
		return err
	}
	r := &storeReq{env: env, rec: rec, body: first.Bytes(), signal: make(chan bool, 1)}
	return q.commits.submit(q, r)
}

// storeReq is one Store waiting for a group commit.
type storeReq struct {
	env    *queue.Envelope
	rec    []byte
	body   []byte
	err    error
	signal chan bool // true: lead the next commit; false: done, see err
}

// committer runs one group commit at a time; the Stores that arrive
// meanwhile queue up and the first of them leads the next one.
type committer struct {
	mu      sync.Mutex
	pending []*storeReq
	running bool
}

func (c *committer) submit(q *Queue, r *storeReq) error {
	c.mu.Lock()
	c.pending = append(c.pending, r)
	if c.running {
		c.mu.Unlock()
		if lead := <-r.signal; !lead {
			return r.err
		}
		c.mu.Lock()
	}
	c.running = true
	batch := c.pending[:min(len(c.pending), maxBatch)]
	c.pending = c.pending[len(batch):]
	c.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	q.commitBatch(ctx, batch)
	cancel()

	c.mu.Lock()
	if len(c.pending) > 0 {
		c.pending[0].signal <- true
	} else {
		c.running = false
	}
	c.mu.Unlock()
	for _, o := range batch {
		if o != r {
			o.signal <- false
		}
	}
	return r.err
}

// commitBatch stores batch in one transaction and sets each request's
// err. A message whose ID is taken (in the table, or earlier in the
// batch) gets ErrExists and the others are stored.
func (q *Queue) commitBatch(ctx context.Context, batch []*storeReq) {
	seen := make(map[queue.ID]bool, len(batch))
	var ids []string
	var recs [][]byte
	var sizes, arrivals, nexts []int64
	var held []bool
	var dests []string
	for _, r := range batch {
		if seen[r.env.ID] {
			r.err = fmt.Errorf("%w: %s", queue.ErrExists, r.env.ID)
			continue
		}
		seen[r.env.ID] = true
		ids = append(ids, string(r.env.ID))
		recs = append(recs, r.rec)
		sizes = append(sizes, r.env.Size)
		arrivals = append(arrivals, nanos(r.env.Arrival))
		nexts = append(nexts, nanos(r.env.NextAttempt))
		held = append(held, r.env.Held)
		dests = append(dests, destsOf(r.env))
	}
	err := q.insertBatch(ctx, batch, ids, recs, sizes, arrivals, nexts, held, dests)
	for _, r := range batch {
		if r.err == nil && err != nil {
			r.err = err
		}
	}
}

// insertBatch runs the transaction of commitBatch. It marks the rows that
// were already there ErrExists.
func (q *Queue) insertBatch(ctx context.Context, batch []*storeReq, ids []string, recs [][]byte, sizes, arrivals, nexts []int64, held []bool, dests []string) error {
	tx, err := q.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("queue/postgres: %w", err)
	}
	defer tx.Rollback(ctx)
	rows, err := tx.Query(ctx, q.sqlInsertMessages, ids, recs, sizes, arrivals, nexts, held, dests)
	if err != nil {
		return fmt.Errorf("queue/postgres: %w", err)
	}
	inserted := make(map[string]bool, len(ids))
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("queue/postgres: %w", err)
		}
		inserted[id] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("queue/postgres: %w", err)
	}
	var bids []string
	var bodies [][]byte
	for _, r := range batch {
		if r.err != nil {
			continue
		}
		if !inserted[string(r.env.ID)] {
			r.err = fmt.Errorf("%w: %s", queue.ErrExists, r.env.ID)
			continue
		}
		if len(r.body) > 0 {
			bids = append(bids, string(r.env.ID))
			bodies = append(bodies, r.body)
		}
	}
	if len(bids) > 0 {
		if _, err := tx.Exec(ctx, q.sqlInsertBodies, bids, bodies); err != nil {
			return fmt.Errorf("queue/postgres: storing bodies: %w", err)
		}
	}
	if len(inserted) > 0 {
		if err := q.notifyTx(ctx, tx); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("queue/postgres: commit: %w", err)
	}
	return nil
}

// storeLarge stores a message whose body is over one chunk in a
// transaction of its own, streaming the chunks; first is the first one.
func (q *Queue) storeLarge(ctx context.Context, env *queue.Envelope, first []byte, rest io.Reader) error {
	tx, err := q.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("queue/postgres: %w", err)
	}
	defer tx.Rollback(ctx)
	var exists bool
	if err := tx.QueryRow(ctx, q.sql(`SELECT EXISTS (SELECT 1 FROM %smessages WHERE id = $1)`), string(env.ID)).Scan(&exists); err != nil {
		return fmt.Errorf("queue/postgres: %w", err)
	}
	if exists {
		return fmt.Errorf("%w: %s", queue.ErrExists, env.ID)
	}
	insert := func(seq int, b []byte) error {
		if _, err := tx.Exec(ctx, q.sql(`INSERT INTO %sbodies (id, seq, data) VALUES ($1, $2, $3)`), string(env.ID), seq, b); err != nil {
			return fmt.Errorf("queue/postgres: storing body: %w", err)
		}
		return nil
	}
	if err := insert(0, first); err != nil {
		return err
	}
	size := int64(len(first))
	buf := make([]byte, chunkSize)
	for seq := 1; ; seq++ {
		n, rerr := io.ReadFull(rest, buf)
		if n > 0 {
			if err := insert(seq, buf[:n]); err != nil {
				return err
			}
			size += int64(n)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("queue: reading body: %w", rerr)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	env.Size = size
	rec, err := queue.EncodeEnvelope(env)
	if err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, q.sql(`INSERT INTO %smessages (id, env, size, arrival, next_at, held, dests)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`),
		string(env.ID), rec, size, nanos(env.Arrival), nanos(env.NextAttempt), env.Held, destsOf(env))
	if err != nil {
		return fmt.Errorf("queue/postgres: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %s", queue.ErrExists, env.ID)
	}
	if err := q.notifyTx(ctx, tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("queue/postgres: commit: %w", err)
	}
	return nil
}
