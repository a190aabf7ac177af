// Command mxrelayd-pg is mxrelay's relay daemon on a queue in PostgreSQL,
// for two or more MX hosts that share one queue: any node accepts, any
// node delivers, and a node that dies leaves its mail to the others.
//
//	mxrelayd-pg -config /etc/postfix/main.cf -listen 0.0.0.0:25 \
//	    -queue 'postgres://mxrelay@db.example.net/mail'
//
// It lives in the nested module github.com/mxrelay/mxrelay/queue/postgres
// because it links pgx, which the core module does not; build it with
//
//	cd queue/postgres && go build ./cmd/mxrelayd-pg
//
// Each node runs it with the same main.cf and the same -queue. The schema
// is created or migrated when a node starts (queue/postgres.Open).
//
// The queue tools, named and used as Postfix's and as mxrelayd's, work
// on the shared queue directly, from any machine that reaches the
// database, whether a node runs there or not:
//
//	mxrelayd-pg mailq -queue URL                            # postqueue -p
//	mxrelayd-pg postqueue -j|-f|-s SITE|-i ID -queue URL
//	mxrelayd-pg postsuper -d|-h|-H|-r ID|ALL|- -queue URL
//	mxrelayd-pg postcat -q ID -queue URL
//
// A flush wakes the idle nodes at once (LISTEN/NOTIFY) and lifts the
// dead-destination marks of every node; a held message is held for all.
//
// Flags:
//
//	-config FILE   the Postfix main.cf (required)
//	-queue URL     the PostgreSQL connection string (required; a
//	               postgres:// URL or key=value pairs, as libpq and pgx)
//	-prefix P      the queue's table prefix (default mxq_)
//	-listen ADDRS  SMTP listen addresses, comma separated (default
//	               0.0.0.0:25)
//	-hostname H    $myhostname
//	-dns HOST:PORT send every DNS query there
//	-node-ttl D    how long a node that stops renewing its claims keeps
//	               them (default 30s; see queue/postgres.Options.NodeTTL)
//
// Unlike examples/mxrelayd it listens on -listen only (it does not read
// master.cf), does not reload on SIGHUP, and logs slog text lines to
// standard error (no -log-format postfix, no -metrics). The single-host
// daemon, examples/mxrelayd, keeps its queue in a directory; see the
// README for when to choose which.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, nil))
}
