// Package pgdaemon links the PostgreSQL queue into mxrelayd's daemon
// (examples/mxrelayd/daemon): with Type in Options.Queues, the daemon
// takes -queue postgres://... (a connection string) as well as a
// directory, and its queue tools work on that shared queue from any
// machine. Commands that link it: cmd/mxrelayd-pg, and
// examples/mxrelayd/all.
//
//	func main() {
//		os.Exit(daemon.MainWith(os.Args[1:], daemon.Options{
//			Queues: []daemon.QueueType{pgdaemon.Type()},
//		}))
//	}
//
// Its flags, for the daemon and the queue tools:
//
//	-prefix P     the queue's table prefix (default mxq_), so that several
//	              queues share a database
//	-node-ttl D   how long the claims of a node that stopped renewing them
//	              last (default 30s; see postgres.Options.NodeTTL)
package pgdaemon
