// Command mxrelayd-pg is mxrelayd (examples/mxrelayd) with its queue in
// PostgreSQL linked in, for two or more MX hosts that share one queue:
// any node accepts, any node delivers, and a node that dies leaves its
// mail to the others. Everything else is mxrelayd's: master.cf's
// listeners, SIGHUP and "reload", -log-format, -metrics, -check, the
// queue tools.
//
//	mxrelayd-pg -config /etc/postfix/main.cf \
//	    -queue 'postgres://mxrelay@db.example.net/mail'
//
// It lives in the nested module github.com/mxrelay/mxrelay/queue/postgres
// because it links pgx, which the core module does not; build it with
//
//	cd queue/postgres && go build ./cmd/mxrelayd-pg
//
// examples/mxrelayd/all is the same daemon with the database table
// types linked in as well.
//
// Each node runs it with the same main.cf and the same -queue. The schema
// is created or migrated when a node starts (queue/postgres.Open). A
// node's own files, its control socket (for "mxrelayd-pg reload -config
// main.cf") and its verify cache, are in $queue_directory/mxrelay.
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
// Flags beyond mxrelayd's (package pgdaemon), for the daemon and the
// queue tools:
//
//	-queue URL     the PostgreSQL connection string (postgres://... or
//	               postgresql://..., as pgx takes it); a directory runs
//	               the file spool, as mxrelayd
//	-prefix P      the queue's table prefix (default mxq_)
//	-node-ttl D    how long a node that stops renewing its claims keeps
//	               them (default 30s; see queue/postgres.Options.NodeTTL)
//
// The single-host daemon, examples/mxrelayd, keeps its queue in a
// directory; see the README for when to choose which.
package main

import (
	"os"

	"github.com/mxrelay/mxrelay/examples/mxrelayd/daemon"
	"github.com/mxrelay/mxrelay/queue/postgres/pgdaemon"
)

// options links the PostgreSQL queue into the daemon.
func options() daemon.Options {
	return daemon.Options{Queues: []daemon.QueueType{pgdaemon.Type()}}
}

func main() { os.Exit(daemon.MainWith(os.Args[1:], options())) }
