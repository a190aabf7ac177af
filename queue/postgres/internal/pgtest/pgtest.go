// Package pgtest gives the tests of queue/postgres and its command their
// database: the server named by MXRELAY_TEST_POSTGRES, and table
// prefixes of their own.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mxrelay/mxrelay/internal/testenv"
)

// DSN returns the test database: MXRELAY_TEST_POSTGRES, e.g.
// "postgres://mxq@127.0.0.1:55432/postgres". Without it the test skips,
// unless CI is set: then it fails.
func DSN(t testing.TB) string {
	t.Helper()
	return testenv.NeedEnv(t, "MXRELAY_TEST_POSTGRES", "PostgreSQL")
}

// NewPrefix returns a random table prefix.
func NewPrefix() string {
	var b [6]byte
	rand.Read(b[:])
	return "t" + hex.EncodeToString(b[:]) + "_"
}

// Prefix returns a random table prefix whose tables are dropped when t
// ends.
func Prefix(t testing.TB) string {
	pre := NewPrefix()
	t.Cleanup(func() {
		p, err := pgxpool.New(context.Background(), DSN(t))
		if err != nil {
			t.Error(err)
			return
		}
		defer p.Close()
		if err := Drop(p, pre); err != nil {
			t.Error(err)
		}
	})
	return pre
}

// Drop removes the tables and sequences of prefix pre.
func Drop(p *pgxpool.Pool, pre string) error {
	ctx := context.Background()
	rows, err := p.Query(ctx, `SELECT relname, relkind FROM pg_class WHERE starts_with(relname, $1) AND relkind IN ('r', 'S')`, pre)
	if err != nil {
		return err
	}
	var stmts []string
	for rows.Next() {
		var name string
		var kind byte
		if err := rows.Scan(&name, &kind); err != nil {
			return err
		}
		what := "TABLE"
		if kind == 'S' {
			what = "SEQUENCE"
		}
		stmts = append(stmts, "DROP "+what+" IF EXISTS "+name+" CASCADE")
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, st := range stmts {
		if _, err := p.Exec(ctx, st); err != nil {
			return err
		}
	}
	return nil
}
