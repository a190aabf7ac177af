package pgdaemon

import (
	"context"
	"flag"

	"github.com/mxrelay/mxrelay/examples/mxrelayd/daemon"
	"github.com/mxrelay/mxrelay/queue/postgres"
)

// Type is the daemon's queue type for postgres:// and postgresql://
// URLs, which it passes to postgres.Connect (pool_max_conns and the
// other pgx parameters apply).
func Type() daemon.QueueType {
	return daemon.QueueType{Schemes: []string{"postgres", "postgresql"}, Define: define}
}

func define(fs *flag.FlagSet) daemon.OpenQueueFunc {
	prefix := fs.String("prefix", "", "the PostgreSQL queue's table prefix (default mxq_)")
	nodeTTL := fs.Duration("node-ttl", 0, "how long the claims of a node that stopped renewing them last, on a PostgreSQL queue (default 30s)")
	return func(ctx context.Context, url string, o daemon.QueueOptions) (*daemon.OpenedQueue, error) {
		opts := &postgres.Options{Prefix: *prefix, NodeTTL: *nodeTTL, Logger: o.Logger}
		if o.Tool {
			// A tool claims nothing: it is no node.
			opts.NodeTTL = -1
		}
		q, err := postgres.Connect(ctx, url, opts)
		if err != nil {
			return nil, err
		}
		return &daemon.OpenedQueue{Queue: q, Name: q.Name(), Close: q.Close}, nil
	}
}
