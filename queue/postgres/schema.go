package postgres

import (
	"context"
	"fmt"
	"hash/fnv"

	"github.com/jackc/pgx/v5"
)

// migrations are the schema's versions: migrations[i] takes a schema of
// version i to version i+1. They only ever get appended to; a released
// step is never edited. %[1]s is the table prefix.
//
// Version 1 is the schema that Open created before the schema was
// versioned; its statements say IF NOT EXISTS so that a queue made then
// is adopted as it is.
var migrations = []string{
	// 1: messages, bodies and the lease sequence.
	`CREATE TABLE IF NOT EXISTS %[1]smessages (
	id          text COLLATE "C" PRIMARY KEY,
	env         bytea NOT NULL,
	size        bigint NOT NULL,
	arrival     bigint NOT NULL,
	next_at     bigint NOT NULL,
	held        boolean NOT NULL,
	lease_token bigint NOT NULL DEFAULT 0,
	lease_until bigint NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS %[1]sdue ON %[1]smessages
	((CASE WHEN lease_token <> 0 AND lease_until > next_at THEN lease_until ELSE next_at END), arrival, id)
	WHERE NOT held;
CREATE TABLE IF NOT EXISTS %[1]sbodies (
	id   text COLLATE "C" NOT NULL,
	seq  integer NOT NULL,
	data bytea NOT NULL,
	PRIMARY KEY (id, seq)
);
CREATE SEQUENCE IF NOT EXISTS %[1]slease_seq;`,
	// 2: nodes, whose claims end when they stop renewing them; the
	// cluster's concurrency slots and dead-destination marks.
	`CREATE TABLE %[1]snodes (
	id          bigint PRIMARY KEY,
	name        text NOT NULL,
	alive_until bigint NOT NULL
);
CREATE SEQUENCE %[1]snode_seq;
ALTER TABLE %[1]smessages ADD COLUMN lease_node bigint NOT NULL DEFAULT 0;
CREATE INDEX %[1]sclaims ON %[1]smessages (lease_node) WHERE lease_node <> 0;
CREATE TABLE %[1]sslots (
	dest  text COLLATE "C" NOT NULL,
	id    text COLLATE "C" NOT NULL,
	token bigint NOT NULL,
	PRIMARY KEY (dest, id, token)
);
CREATE INDEX %[1]sslots_id ON %[1]sslots (id);
CREATE TABLE %[1]sdead (
	dest   text COLLATE "C" PRIMARY KEY,
	until  bigint NOT NULL,
	reason text NOT NULL,
	status text NOT NULL
);`,
	// 3: the destinations of a message's pending recipients, so that a
	// claim passes over the messages of destinations at their limit in
	// the database rather than by decoding them. NULL (rows written
	// before) matches every claim.
	`ALTER TABLE %[1]smessages ADD COLUMN dests text;`,
}

// schemaVersion is the version this code reads and writes.
var schemaVersion = len(migrations)

// lockKey is the advisory lock that serializes schema changes of one
// prefix across every process opening it.
func lockKey(prefix string) int64 {
	h := fnv.New64a()
	h.Write([]byte("mxrelay queue schema " + prefix))
	return int64(h.Sum64())
}

// migrate brings the schema of prefix p to schemaVersion in one
// transaction under an advisory lock: processes that start at once take
// turns, and the later ones find the work done. A schema newer than this
// code is refused, never downgraded.
func migrate(ctx context.Context, conn interface {
	Begin(context.Context) (pgx.Tx, error)
}, p string) (int, error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey(p)); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %sschema (version integer NOT NULL)`, p)); err != nil {
		return 0, err
	}
	var version int
	err = tx.QueryRow(ctx, fmt.Sprintf(`SELECT version FROM %sschema`, p)).Scan(&version)
	switch {
	case err == pgx.ErrNoRows:
		if _, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %sschema (version) VALUES (0)`, p)); err != nil {
			return 0, err
		}
	case err != nil:
		return 0, err
	}
	if version > schemaVersion {
		return version, fmt.Errorf("schema version %d is newer than this program's %d: upgrade it before running it on this queue", version, schemaVersion)
	}
	from := version
	for ; version < schemaVersion; version++ {
		if _, err := tx.Exec(ctx, fmt.Sprintf(migrations[version], p)); err != nil {
			return from, fmt.Errorf("migrating to version %d: %w", version+1, err)
		}
	}
	if version != from {
		if _, err := tx.Exec(ctx, fmt.Sprintf(`UPDATE %sschema SET version = $1`, p), version); err != nil {
			return from, err
		}
	}
	return from, tx.Commit(ctx)
}
