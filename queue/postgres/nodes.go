package postgres

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultNodeTTL is Options.NodeTTL's default.
const DefaultNodeTTL = 30 * time.Second

// node is this Queue's row in <prefix>nodes. Every claim records the node
// that made it; the node renews its row every ttl/3, and any node that
// finds a row not renewed for ttl ends that node's claims (reap), so that
// the mail a dead process was delivering is claimed again after ttl,
// not after the Scheduler's whole lease (30 minutes by default).
type node struct {
	ttl    time.Duration // <= 0: claims are not tied to a node
	id     atomic.Int64
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startNode registers this Queue as a node, ends the claims of nodes
// found dead, and keeps renewing until Close.
func (q *Queue) startNode(ctx context.Context) error {
	if q.node.ttl <= 0 {
		return nil
	}
	if err := q.register(ctx); err != nil {
		return err
	}
	if _, err := q.reap(ctx, time.Now()); err != nil {
		return err
	}
	bg, cancel := context.WithCancel(context.Background())
	q.node.cancel = cancel
	q.node.wg.Go(func() {
		t := time.NewTicker(q.node.ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-bg.Done():
				return
			case <-t.C:
			}
			if err := q.renew(bg); err != nil && bg.Err() == nil {
				q.log.Warn("queue/postgres: renewing this node's claims failed; they end if it keeps failing", "node", q.node.id.Load(), "err", err)
			}
		}
	})
	return nil
}

// stopNode stops renewing. The node's claims last until its row expires,
// as if it had died: deliveries it did not finish go to another node.
func (q *Queue) stopNode() {
	if q.node.cancel != nil {
		q.node.cancel()
		q.node.wg.Wait()
	}
}

// register adds a new node row and makes it this Queue's.
func (q *Queue) register(ctx context.Context) error {
	host, _ := os.Hostname()
	var id int64
	err := q.pool.QueryRow(ctx, q.sql(`INSERT INTO %[1]snodes (id, name, alive_until)
		VALUES (nextval('%[1]snode_seq'), $1, $2) RETURNING id`),
		fmt.Sprintf("%s[%d]", host, os.Getpid()), time.Now().Add(q.node.ttl).UnixNano()).Scan(&id)
	if err != nil {
		return fmt.Errorf("queue/postgres: registering this node: %w", err)
	}
	q.node.id.Store(id)
	return nil
}

// renew extends this node's row and reaps dead nodes. A node whose row is
// gone was taken for dead (it could not renew for ttl): its claims were
// ended, and it registers anew.
func (q *Queue) renew(ctx context.Context) error {
	now := time.Now()
	tag, err := q.pool.Exec(ctx, q.sql(`UPDATE %snodes SET alive_until = $2 WHERE id = $1`),
		q.node.id.Load(), now.Add(q.node.ttl).UnixNano())
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		q.log.Warn("queue/postgres: this node was taken for dead and its claims ended; registering again", "node", q.node.id.Load())
		if err := q.register(ctx); err != nil {
			return err
		}
	}
	_, err = q.reap(ctx, now)
	return err
}

// reap ends the claims of the nodes whose row expired before now: their
// leases end when the node was last known alive, and the idle nodes are
// woken. Nodes reaping at once skip each other's rows. It returns the
// number of claims ended.
func (q *Queue) reap(ctx context.Context, now time.Time) (int64, error) {
	tx, err := q.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx)
	tag, err := tx.Exec(ctx, q.sql(`WITH dead AS (
			DELETE FROM %[1]snodes WHERE id IN
				(SELECT id FROM %[1]snodes WHERE alive_until < $1 FOR UPDATE SKIP LOCKED)
			RETURNING id, alive_until)
		UPDATE %[1]smessages m SET lease_until = LEAST(m.lease_until, dead.alive_until), lease_node = 0
		FROM dead WHERE m.lease_node = dead.id AND m.lease_token <> 0`), now.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("queue/postgres: ending the claims of dead nodes: %w", err)
	}
	if tag.RowsAffected() > 0 {
		if err := q.notifyTx(ctx, tx); err != nil {
			return 0, err
		}
	}
	return tag.RowsAffected(), tx.Commit(ctx)
}
