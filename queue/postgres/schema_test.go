package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/queue/postgres"
)

// version reads the schema version recorded for prefix pre.
func version(t *testing.T, pre string) int {
	t.Helper()
	p := pool(t)
	defer p.Close()
	var v int
	if err := p.QueryRow(context.Background(), "SELECT version FROM "+pre+"schema").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestSchemaConcurrentOpen: nodes that start at once on an empty
// database all open the queue (the advisory lock makes them take turns
// creating the schema), and the schema is at the current version.
func TestSchemaConcurrentOpen(t *testing.T) {
	dsn(t)
	pre := prefix()
	t.Cleanup(func() {
		p := pool(t)
		defer p.Close()
		drop(p, pre)
	})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			q, err := postgres.Connect(context.Background(), dsn(t), &postgres.Options{Prefix: pre})
			if err != nil {
				errs <- err
				return
			}
			q.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Open: %v", err)
	}
	if v := version(t, pre); v != postgres.SchemaVersion {
		t.Errorf("schema version %d, want %d", v, postgres.SchemaVersion)
	}
}

// TestSchemaAdoptsUnversioned: a queue made before the schema had a
// version (its tables, no version table) is adopted with its mail, and
// opening it again changes nothing.
func TestSchemaAdoptsUnversioned(t *testing.T) {
	ctx := context.Background()
	p := pool(t)
	t.Cleanup(p.Close)
	pre := prefix()
	t.Cleanup(func() { drop(p, pre) })
	// The DDL Open ran before versioning.
	if _, err := p.Exec(ctx, strings.ReplaceAll(`
CREATE TABLE P_messages (id text COLLATE "C" PRIMARY KEY, env bytea NOT NULL, size bigint NOT NULL,
	arrival bigint NOT NULL, next_at bigint NOT NULL, held boolean NOT NULL,
	lease_token bigint NOT NULL DEFAULT 0, lease_until bigint NOT NULL DEFAULT 0);
CREATE INDEX P_due ON P_messages
	((CASE WHEN lease_token <> 0 AND lease_until > next_at THEN lease_until ELSE next_at END), arrival, id) WHERE NOT held;
CREATE TABLE P_bodies (id text COLLATE "C" NOT NULL, seq integer NOT NULL, data bytea NOT NULL, PRIMARY KEY (id, seq));
CREATE SEQUENCE P_lease_seq;`, "P_", pre)); err != nil {
		t.Fatal(err)
	}
	env := &queue.Envelope{ID: "OLD1", Sender: "s@example.org", Recipients: []queue.Recipient{{Address: "u@example.com"}}}
	rec, err := queue.EncodeEnvelope(env)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Exec(ctx, "INSERT INTO "+pre+"messages (id, env, size, arrival, next_at, held) VALUES ('OLD1', $1, 0, 1, 1, false)", rec); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		q, err := postgres.Open(ctx, p, &postgres.Options{Prefix: pre})
		if err != nil {
			t.Fatalf("Open of an unversioned queue: %v", err)
		}
		if e, err := q.Get(ctx, "OLD1"); err != nil || e.Sender != "s@example.org" {
			t.Errorf("the old message after migration: %+v, %v", e, err)
		}
		q.Close()
		if v := version(t, pre); v != postgres.SchemaVersion {
			t.Errorf("schema version %d, want %d", v, postgres.SchemaVersion)
		}
	}
}

// TestSchemaNewerRefused: a program never runs on a schema a newer
// version made, which it would misread.
func TestSchemaNewerRefused(t *testing.T) {
	ctx := context.Background()
	p := pool(t)
	t.Cleanup(p.Close)
	pre := prefix()
	t.Cleanup(func() { drop(p, pre) })
	q, err := postgres.Open(ctx, p, &postgres.Options{Prefix: pre})
	if err != nil {
		t.Fatal(err)
	}
	q.Close()
	if _, err := p.Exec(ctx, "UPDATE "+pre+"schema SET version = version + 1"); err != nil {
		t.Fatal(err)
	}
	_, err = postgres.Open(ctx, p, &postgres.Options{Prefix: pre})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("schema version %d is newer", postgres.SchemaVersion+1)) {
		t.Errorf("Open on a newer schema: %v", err)
	}
}

// TestGroupCommitDuplicates: concurrent Stores share commits; of two
// with one ID exactly one is stored, the other gets ErrExists, and every
// other message is stored whole.
func TestGroupCommitDuplicates(t *testing.T) {
	ctx := context.Background()
	q := open(t)
	const n = 64
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			id := queue.ID(fmt.Sprintf("M%03d", i))
			if i%16 == 1 {
				id = queue.ID(fmt.Sprintf("M%03d", i-1)) // a duplicate of its neighbour
			}
			e := &queue.Envelope{ID: id, Recipients: []queue.Recipient{{Address: "u@example.com"}}}
			errs[i] = q.Store(ctx, e, bytes.NewReader(fmt.Appendf(nil, "body %d", i)))
		})
	}
	wg.Wait()
	for i := 0; i < n; i++ {
		if i%16 == 0 {
			a, b := errs[i], errs[i+1]
			if (a == nil) == (b == nil) || (a != nil && !errors.Is(a, queue.ErrExists)) || (b != nil && !errors.Is(b, queue.ErrExists)) {
				t.Errorf("two Stores of M%03d: %v and %v, want one nil and one ErrExists", i, a, b)
			}
			winner := i
			if a != nil {
				winner = i + 1
			}
			checkBody(t, q, queue.ID(fmt.Sprintf("M%03d", i)), fmt.Sprintf("body %d", winner))
			i++
			continue
		}
		if errs[i] != nil {
			t.Errorf("Store %d: %v", i, errs[i])
			continue
		}
		checkBody(t, q, queue.ID(fmt.Sprintf("M%03d", i)), fmt.Sprintf("body %d", i))
	}
}
