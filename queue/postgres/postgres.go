package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mxrelay/mxrelay/queue"
)

// Options tunes Open. The zero value is ready to use.
type Options struct {
	// Prefix starts the names of the tables, the sequence and the NOTIFY
	// channel, so that several queues can share a database. Default
	// "mxq_"; letters, digits and '_' only.
	Prefix string
	// NodeTTL is how long the claims of a process that stopped renewing
	// them last: each open Queue is a node that renews its row every
	// NodeTTL/3, and the claims of a node not heard of for NodeTTL end
	// (its mail is claimed again by another node) instead of lasting the
	// Scheduler's whole lease. Default DefaultNodeTTL (30s); negative:
	// claims last their lease, as with the file spool.
	NodeTTL time.Duration
	// Logger receives the listener's and the node's failures. Nil
	// discards.
	Logger *slog.Logger
}

// Queue is a queue.Queue stored in PostgreSQL. Close it when done.
type Queue struct {
	pool  *pgxpool.Pool
	owned bool   // Connect made the pool: Close closes it
	p     string // prefix
	log   *slog.Logger

	commits  committer
	listen   listener
	claimSem chan struct{}
	node     node
	name     string // for messages: the database, never the password

	sqlInsertBatch string
}

var _ queue.Queue = (*Queue)(nil)

const (
	defaultMaxConns = 16
	maxClaims       = 4 // claims in progress at once per Queue (claimSem)
	chunkSize       = 1 << 20
	maxExamine      = 1024 // due messages one Claim looks at, as the built-in backends
	claimBatch      = 64
)

var validPrefix = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,30}$`)

// Open returns the queue stored in pool's database, creating or migrating
// its schema (see Schema). The pool stays the caller's.
func Open(ctx context.Context, pool *pgxpool.Pool, opts *Options) (*Queue, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Prefix == "" {
		o.Prefix = "mxq_"
	}
	if !validPrefix.MatchString(o.Prefix) {
		return nil, fmt.Errorf("queue/postgres: invalid table prefix %q", o.Prefix)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if _, err := migrate(ctx, pool, o.Prefix); err != nil {
		return nil, fmt.Errorf("queue/postgres: schema of %q: %w", o.Prefix, err)
	}
	if o.NodeTTL == 0 {
		o.NodeTTL = DefaultNodeTTL
	}
	cc := pool.Config().ConnConfig
	q := &Queue{pool: pool, p: o.Prefix, log: o.Logger, node: node{ttl: o.NodeTTL}, claimSem: make(chan struct{}, maxClaims),
		name: fmt.Sprintf("postgres://%s@%s:%d/%s (prefix %s)", cc.User, cc.Host, cc.Port, cc.Database, o.Prefix)}
	// A group commit is this one statement, in a transaction of its own:
	// the message rows (those whose ID is taken are passed over), the
	// bodies of the rows inserted (an empty body has no row), and one
	// NOTIFY (PostgreSQL sends one per transaction for a channel and
	// payload, however many rows call it).
	q.sqlInsertBatch = q.sql(`WITH m AS (
		INSERT INTO %[1]smessages (id, env, size, arrival, next_at, held, dests)
		SELECT * FROM unnest($1::text[], $2::bytea[], $3::int8[], $4::int8[], $5::int8[], $6::bool[], $7::text[])
		ON CONFLICT (id) DO NOTHING RETURNING id
	), b AS (
		INSERT INTO %[1]sbodies (id, seq, data)
		SELECT t.id, 0, t.data FROM unnest($1::text[], $8::bytea[]) AS t(id, data)
		WHERE octet_length(t.data) > 0 AND t.id IN (SELECT id FROM m)
	)
	SELECT m.id FROM m CROSS JOIN LATERAL (SELECT pg_notify($9, '')) AS n`)
	if err := q.startNode(ctx); err != nil {
		return nil, err
	}
	return q, nil
}

// Name describes the queue for messages: the database's user, host,
// port and name, and the prefix; never the password.
func (q *Queue) Name() string { return q.name }

// Connect opens a pool on connString (a postgres:// URL or key=value
// string, as pgx takes it) and the queue in its database; Close closes
// both. The pool has defaultMaxConns (16) connections unless the string
// sets pool_max_conns: a relay's SMTP sessions store while its delivery
// workers claim and record.
func Connect(ctx context.Context, connString string, opts *Options) (*Queue, error) {
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("queue/postgres: %w", err)
	}
	if !strings.Contains(connString, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("queue/postgres: %w", err)
	}
	q, err := Open(ctx, pool, opts)
	if err != nil {
		pool.Close()
		return nil, err
	}
	q.owned = true
	return q, nil
}

// Close stops the listener and the renewal of this node's claims (they
// end after Options.NodeTTL, as if the process had died) and, for a
// queue made by Connect, closes its pool. Calls in progress finish
// first.
func (q *Queue) Close() error {
	q.listen.stop()
	q.stopNode()
	if q.owned {
		q.pool.Close()
	}
	return nil
}

func (q *Queue) sql(format string) string { return fmt.Sprintf(format, q.p) }

const dueKey = `(CASE WHEN lease_token <> 0 AND lease_until > next_at THEN lease_until ELSE next_at END)`

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func notFound(id queue.ID) error { return fmt.Errorf("%w: %s", queue.ErrNotFound, id) }

// decode checks and decodes a stored record and attaches the lease.
func decode(id queue.ID, rec []byte, token, until int64) (*queue.Envelope, error) {
	e, err := queue.DecodeEnvelope(rec)
	if err != nil {
		return nil, fmt.Errorf("queue/postgres: message %s: %w", id, err)
	}
	if e.ID != id {
		return nil, fmt.Errorf("queue/postgres: message %s: %w: record of %s", id, queue.ErrCorrupt, e.ID)
	}
	if token != 0 {
		e.Lease = queue.Lease{Token: uint64(token), Until: fromNanos(until)}
	}
	return e, nil
}

// Modify implements queue.Queue in one transaction holding the row lock.
func (q *Queue) Modify(ctx context.Context, id queue.ID, fn func(*queue.Envelope) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tx, err := q.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("queue/postgres: %w", err)
	}
	defer tx.Rollback(ctx)
	var rec []byte
	var token, until int64
	err = tx.QueryRow(ctx, q.sql(`SELECT env, lease_token, lease_until FROM %smessages WHERE id = $1 FOR UPDATE`),
		string(id)).Scan(&rec, &token, &until)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound(id)
	}
	if err != nil {
		return fmt.Errorf("queue/postgres: %w", err)
	}
	e, err := decode(id, rec, token, until)
	if err != nil {
		return err
	}
	size := e.Size
	if err := fn(e); err != nil {
		return err
	}
	e.ID, e.Size = id, size
	rec, err = queue.EncodeEnvelope(e)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, q.sql(`UPDATE %smessages SET env = $2, arrival = $3, next_at = $4, held = $5,
		lease_token = $6, lease_until = $7, lease_node = CASE WHEN $6 = lease_token THEN lease_node ELSE 0 END, dests = $8 WHERE id = $1`),
		string(id), rec, nanos(e.Arrival), nanos(e.NextAttempt), e.Held, int64(e.Lease.Token), nanos(e.Lease.Until), destsOf(e)); err != nil {
		return fmt.Errorf("queue/postgres: %w", err)
	}
	freed := false
	if int64(e.Lease.Token) != token {
		// The claim ended: so do its concurrency slots.
		if freed, err = q.freeSlots(ctx, tx, id); err != nil {
			return err
		}
	}
	if freed || claimable(e, time.Now()) {
		if err := q.notifyTx(ctx, tx); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("queue/postgres: commit: %w", err)
	}
	return nil
}

// freeSlots deletes the concurrency slots of message id's claim and
// reports whether it held any: the message waiting for one of them may be
// claimed now, so the caller wakes the idle nodes.
func (q *Queue) freeSlots(ctx context.Context, tx pgx.Tx, id queue.ID) (bool, error) {
	tag, err := tx.Exec(ctx, q.sql(`DELETE FROM %sslots WHERE id = $1`), string(id))
	if err != nil {
		return false, fmt.Errorf("queue/postgres: %w", err)
	}
	return tag.RowsAffected() > 0, nil
}

// destsOf is the dests column of e: the destinations of its pending
// recipients (queue.DestinationOf), one per line.
func destsOf(e *queue.Envelope) string {
	var ds []string
	for _, i := range e.Pending() {
		if d := queue.DestinationOf(&e.Recipients[i]); !slices.Contains(ds, d) {
			ds = append(ds, d)
		}
	}
	return strings.Join(ds, "\n")
}

// claimable reports whether e can be claimed at now: Modify then wakes
// the idle processes (a Flush, a Release, a claim given back). So does a
// claim that ends and frees concurrency slots.
func claimable(e *queue.Envelope, now time.Time) bool {
	return !e.Held && !e.NextAttempt.After(now) && !e.Lease.Live(now)
}

// Remove implements queue.Queue; it deletes the row and the body chunks
// in one transaction.
func (q *Queue) Remove(ctx context.Context, id queue.ID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tx, err := q.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("queue/postgres: %w", err)
	}
	defer tx.Rollback(ctx)
	tag, err := tx.Exec(ctx, q.sql(`DELETE FROM %smessages WHERE id = $1`), string(id))
	if err != nil {
		return fmt.Errorf("queue/postgres: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound(id)
	}
	if _, err := tx.Exec(ctx, q.sql(`DELETE FROM %sbodies WHERE id = $1`), string(id)); err != nil {
		return fmt.Errorf("queue/postgres: %w", err)
	}
	if freed, err := q.freeSlots(ctx, tx, id); err != nil {
		return err
	} else if freed {
		if err := q.notifyTx(ctx, tx); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("queue/postgres: commit: %w", err)
	}
	return nil
}

// Get implements queue.Queue.
func (q *Queue) Get(ctx context.Context, id queue.ID) (queue.Envelope, error) {
	var rec []byte
	var token, until int64
	err := q.pool.QueryRow(ctx, q.sql(`SELECT env, lease_token, lease_until FROM %smessages WHERE id = $1`),
		string(id)).Scan(&rec, &token, &until)
	if errors.Is(err, pgx.ErrNoRows) {
		return queue.Envelope{}, notFound(id)
	}
	if err != nil {
		return queue.Envelope{}, fmt.Errorf("queue/postgres: %w", err)
	}
	e, err := decode(id, rec, token, until)
	if err != nil {
		return queue.Envelope{}, err
	}
	return *e, nil
}

// Body implements queue.Queue. The reader fetches one chunk at a time.
func (q *Queue) Body(ctx context.Context, id queue.ID) (io.ReadCloser, error) {
	var size int64
	err := q.pool.QueryRow(ctx, q.sql(`SELECT size FROM %smessages WHERE id = $1`), string(id)).Scan(&size)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound(id)
	}
	if err != nil {
		return nil, fmt.Errorf("queue/postgres: %w", err)
	}
	return &bodyReader{q: q, ctx: ctx, id: id, left: size}, nil
}

type bodyReader struct {
	q    *Queue
	ctx  context.Context
	id   queue.ID
	seq  int
	left int64 // bytes not yet read
	cur  bytes.Reader
}

func (b *bodyReader) Read(p []byte) (int, error) {
	for b.cur.Len() == 0 {
		if b.left == 0 {
			return 0, io.EOF
		}
		var data []byte
		err := b.q.pool.QueryRow(b.ctx, b.q.sql(`SELECT data FROM %sbodies WHERE id = $1 AND seq = $2`),
			string(b.id), b.seq).Scan(&data)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, fmt.Errorf("queue/postgres: message %s: body chunk %d missing (removed meanwhile?): %w", b.id, b.seq, queue.ErrNotFound)
		}
		if err != nil {
			return 0, fmt.Errorf("queue/postgres: %w", err)
		}
		if len(data) == 0 || int64(len(data)) > b.left {
			return 0, fmt.Errorf("queue/postgres: message %s: %w: body chunk %d of %d bytes", b.id, queue.ErrCorrupt, b.seq, len(data))
		}
		b.seq++
		b.left -= int64(len(data))
		b.cur.Reset(data)
	}
	return b.cur.Read(p)
}

func (b *bodyReader) Close() error { return nil }

// Walk implements queue.Queue. It reads the messages in pages of 500 by
// ID, so fn runs without a query open.
func (q *Queue) Walk(ctx context.Context, fn func(*queue.Envelope) error) error {
	after := ""
	for {
		rows, err := q.pool.Query(ctx, q.sql(`SELECT id, env, lease_token, lease_until FROM %smessages
			WHERE id > $1 ORDER BY id LIMIT 500`), after)
		if err != nil {
			return fmt.Errorf("queue/postgres: %w", err)
		}
		var page []*queue.Envelope
		for rows.Next() {
			var id string
			var rec []byte
			var token, until int64
			if err := rows.Scan(&id, &rec, &token, &until); err != nil {
				rows.Close()
				return fmt.Errorf("queue/postgres: %w", err)
			}
			e, err := decode(queue.ID(id), rec, token, until)
			if err != nil {
				rows.Close()
				return err
			}
			page = append(page, e)
			after = id
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("queue/postgres: %w", err)
		}
		for _, e := range page {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(page) < 500 {
			return nil
		}
	}
}
