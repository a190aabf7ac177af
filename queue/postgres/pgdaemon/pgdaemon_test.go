package pgdaemon

import (
	"context"
	"flag"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mxrelay/mxrelay/examples/mxrelayd/daemon"
	"github.com/mxrelay/mxrelay/queue/postgres/internal/pgtest"
)

// A daemon opens its queue as a node (a row in the nodes table); a queue
// tool opens it as no node; -prefix names the tables.
func TestOpen(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	pre := pgtest.Prefix(t)
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for _, tool := range []bool{true, false} {
		fs := flag.NewFlagSet("mxrelayd", flag.ContinueOnError)
		open := define(fs)
		if err := fs.Parse([]string{"-prefix", pre, "-node-ttl", "1h"}); err != nil {
			t.Fatal(err)
		}
		q, err := open(ctx, dsn, daemon.QueueOptions{Tool: tool})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(q.Name, "(prefix "+pre+")") || strings.Contains(q.Name, "password") {
			t.Errorf("name %q", q.Name)
		}
		var n int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+pre+"nodes").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{true: 0, false: 1}[tool]; n != want {
			t.Errorf("opened with Tool %v: %d nodes, want %d", tool, n, want)
		}
		q.Close()
	}
	if _, err := define(flag.NewFlagSet("x", flag.ContinueOnError))(ctx, "postgres://mxq@127.0.0.1:1/none?connect_timeout=1", daemon.QueueOptions{}); err == nil {
		t.Error("a server that does not answer: no error")
	}
}
