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
	var recs, bodies [][]byte
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
		bodies = append(bodies, r.body)
		sizes = append(sizes, r.env.Size)
		arrivals = append(arrivals, nanos(r.env.Arrival))
		nexts = append(nexts, nanos(r.env.NextAttempt))
		held = append(held, r.env.Held)
		dests = append(dests, destsOf(r.env))
	}
	inserted, err := q.insertBatch(ctx, ids, recs, sizes, arrivals, nexts, held, dests, bodies)
	for _, r := range batch {
		switch {
		case r.err != nil:
		case err != nil:
			r.err = err
		case !inserted[string(r.env.ID)]:
			r.err = fmt.Errorf("%w: %s", queue.ErrExists, r.env.ID)
		}
	}
}

// insertBatch runs the statement of a group commit (sqlInsertBatch), in
// one round trip and one transaction, and returns the IDs it inserted.
// (It was five round trips: BEGIN, the message rows, the bodies, the
// NOTIFY and COMMIT; see BENCHMARKS.md.)
func (q *Queue) insertBatch(ctx context.Context, ids []string, recs [][]byte, sizes, arrivals, nexts []int64, held []bool, dests []string, bodies [][]byte) (map[string]bool, error) {
	rows, err := q.pool.Query(ctx, q.sqlInsertBatch, ids, recs, sizes, arrivals, nexts, held, dests, bodies, q.channel())
	if err != nil {
		return nil, fmt.Errorf("queue/postgres: %w", err)
	}
	defer rows.Close()
	inserted := make(map[string]bool, len(ids))
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("queue/postgres: %w", err)
		}
		inserted[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queue/postgres: %w", err)
	}
	return inserted, nil
}

// storeLarge stores a message whose body is over one chunk in a
// transaction of its own, streaming the chunks with COPY (bodyCopy);
// first is the first one.
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
	bc := &bodyCopy{ctx: ctx, id: string(env.ID), first: first, src: rest}
	if _, err := tx.Conn().PgConn().CopyFrom(ctx, bc, q.sql(`COPY %sbodies (id, seq, data) FROM STDIN (FORMAT binary)`)); err != nil {
		if bc.err != nil {
			return bc.err
		}
		return fmt.Errorf("queue/postgres: storing body: %w", err)
	}
	size := bc.size
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
