package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/queue/postgres"
	"github.com/mxrelay/mxrelay/queue/queuetest"
)

// dsn returns the test database: MXRELAY_TEST_POSTGRES, e.g.
// "postgres://mxq@127.0.0.1:55432/postgres". Without it the tests skip,
// unless CI is set: then they fail.
func dsn(t *testing.T) string {
	t.Helper()
	d := os.Getenv("MXRELAY_TEST_POSTGRES")
	if d == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("MXRELAY_TEST_POSTGRES is not set: CI must start PostgreSQL and set it")
		}
		t.Skip("MXRELAY_TEST_POSTGRES not set")
	}
	return d
}

func pool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), dsn(t))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func prefix() string {
	var b [6]byte
	rand.Read(b[:])
	return "t" + hex.EncodeToString(b[:]) + "_"
}

func TestConformance(t *testing.T) {
	dsn(t)
	queuetest.Run(t, queuetest.Options{
		New: func(t *testing.T) queue.Queue {
			p := pool(t)
			pre := prefix()
			q, err := postgres.Open(context.Background(), p, &postgres.Options{Prefix: pre})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_, err := p.Exec(context.Background(), "DROP TABLE "+pre+"messages, "+pre+"bodies; DROP SEQUENCE "+pre+"lease_seq")
				if err != nil {
					t.Error(err)
				}
				p.Close()
			})
			queues[q] = pre
			return q
		},
		Reopen: func(t *testing.T, q queue.Queue) queue.Queue {
			pre := queues[q.(*postgres.Queue)]
			p := pool(t) // a new connection pool, as after a restart
			t.Cleanup(p.Close)
			q2, err := postgres.Open(context.Background(), p, &postgres.Options{Prefix: pre})
			if err != nil {
				t.Fatal(err)
			}
			queues[q2] = pre
			return q2
		},
		LeasesPersist: true,
	})
}

var queues = map[*postgres.Queue]string{}
