package daemon

import (
	"fmt"
	"strings"
)

// checkQueueDir refuses a -queue that names a database rather than a
// directory (postgres://..., postgresql://...): this mxrelayd keeps its
// queue in a directory, and would otherwise make one named "postgres:".
// The PostgreSQL-backed daemon is a command of the nested module that
// links pgx, which this module does not.
func checkQueueDir(dir string) error {
	scheme, _, ok := strings.Cut(dir, "://")
	if !ok || strings.ContainsAny(scheme, "/.") {
		return nil
	}
	return fmt.Errorf("-queue %s://...: mxrelayd keeps its queue in a directory; for a queue in PostgreSQL, shared by several MX hosts, run mxrelayd-pg (cd queue/postgres && go build ./cmd/mxrelayd-pg)", scheme)
}
