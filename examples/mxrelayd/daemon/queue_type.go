package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mxrelay/mxrelay/queue"
)

// QueueType is a queue backend that -queue URLs name by their scheme
// (postgres://...), linked in by a command of another module
// (Options.Queues).
//
// Its queue is shared: several daemons, and the queue tools of any
// machine, use it at once (the tools open it themselves, not through a
// daemon's control socket). A backend that implements queue.Shared keeps
// the scheduling state (concurrency slots, dead destinations) in the
// queue, so that the daemons on it deliver as one.
type QueueType struct {
	// Schemes are the URL schemes it opens ("postgres", "postgresql"),
	// in lower case.
	Schemes []string
	// Define defines the backend's own flags on fs, for the daemon and
	// the queue tools alike (none, if it has none), and returns the
	// function that opens a queue once fs is parsed.
	Define func(fs *flag.FlagSet) OpenQueueFunc
}

// OpenQueueFunc opens the queue url names.
type OpenQueueFunc func(ctx context.Context, url string, o QueueOptions) (*OpenedQueue, error)

// QueueOptions says who opens a queue.
type QueueOptions struct {
	// Tool is set when a queue tool (mailq, postqueue, postsuper,
	// postcat) opens the queue: it looks at and changes messages but
	// delivers none, so it is no node of the cluster. Unset: a daemon
	// that delivers.
	Tool bool
	// Logger receives the backend's failures. Nil discards.
	Logger *slog.Logger
}

// OpenedQueue is a queue opened by a QueueType.
type OpenedQueue struct {
	// Queue is the backend the daemon stores into and delivers from.
	Queue queue.Queue
	// Name describes the queue in the daemon's output and log (never a
	// password).
	Name string
	// Close releases the queue, after the daemon has stopped using it.
	Close func() error
}

// queueScheme is the scheme of a -queue value that is a URL
// ("postgres" for postgres://...), or "" for a directory (a relative
// path may contain "://" after a '/' or '.').
func queueScheme(v string) string {
	scheme, _, ok := strings.Cut(v, "://")
	if !ok || scheme == "" || strings.ContainsAny(scheme, "/.") {
		return ""
	}
	return scheme
}

// queueFlags are the -queue flag and the flags of the linked-in queue
// types, for the daemon and the queue tools alike.
type queueFlags struct {
	value *string
	opens map[string]OpenQueueFunc // by scheme
}

func addQueueFlags(fs *flag.FlagSet, usage string, types []QueueType) *queueFlags {
	f := &queueFlags{value: fs.String("queue", "", usage), opens: map[string]OpenQueueFunc{}}
	for _, t := range types {
		open := t.Define(fs)
		for _, s := range t.Schemes {
			f.opens[strings.ToLower(s)] = open
		}
	}
	return f
}

// url reports whether -queue names a queue by URL, and refuses a URL
// whose scheme is not linked in, naming what to run instead.
func (f *queueFlags) url() (bool, error) {
	scheme := queueScheme(*f.value)
	if scheme == "" {
		return false, nil
	}
	if f.opens[strings.ToLower(scheme)] != nil {
		return true, nil
	}
	if len(f.opens) > 0 {
		return false, fmt.Errorf("-queue %s://...: this mxrelayd keeps its queue in a directory or in %s:// (no queue type %q is linked in)",
			scheme, strings.Join(slices.Sorted(maps.Keys(f.opens)), "://, "), scheme)
	}
	return false, fmt.Errorf("-queue %s://...: this mxrelayd keeps its queue in a directory; for a queue in PostgreSQL, shared by several MX hosts, "+
		"run the mxrelayd of examples/mxrelayd/all (cd examples/mxrelayd/all && go build -o mxrelayd .), "+
		"or mxrelayd-pg (cd queue/postgres && go build ./cmd/mxrelayd-pg)", scheme)
}

// open opens the queue -queue names by URL.
func (f *queueFlags) open(ctx context.Context, o QueueOptions) (*OpenedQueue, error) {
	if ok, err := f.url(); !ok {
		if err == nil {
			err = fmt.Errorf("-queue %q is not a URL", *f.value)
		}
		return nil, err
	}
	q, err := f.opens[strings.ToLower(queueScheme(*f.value))](ctx, *f.value, o)
	if err != nil {
		return nil, err
	}
	if q.Name == "" {
		q.Name = queueScheme(*f.value) + "://..."
	}
	return q, nil
}

// queueUsage is the -queue flag's usage, naming the linked-in schemes.
func queueUsage(types []QueueType) string {
	u := "queue directory (default: with -config, $queue_directory/" + queueSubdir + "; in the demo, a new temporary one)"
	var schemes []string
	for _, t := range types {
		for _, s := range t.Schemes {
			schemes = append(schemes, s+"://...")
		}
	}
	if len(schemes) > 0 {
		u += ", or a shared queue: " + strings.Join(schemes, ", ") + " (the directory then holds this node's control socket and verify cache)"
	}
	return u
}

// nodeMarker is the file, in the directory of a daemon whose queue is
// named by URL, that tells the queue tools the mail is not there.
const nodeMarker = "queue-elsewhere"

// markNodeDir makes dir, the node's own directory of a daemon whose queue
// is name, and marks it so.
func markNodeDir(dir, name string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, nodeMarker), []byte(name+"\n"), 0o600)
}

// unmarkNodeDir removes the mark of markNodeDir, once dir is a spool.
func unmarkNodeDir(dir string) error {
	if err := os.Remove(filepath.Join(dir, nodeMarker)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// checkNodeDir refuses to open dir as a spool when it is the directory
// of a daemon whose queue is elsewhere.
func checkNodeDir(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, nodeMarker))
	if err != nil {
		return nil
	}
	return fmt.Errorf("%s holds the files of an mxrelayd whose queue is %s, and none runs there: give the queue tools -queue URL",
		dir, strings.TrimSpace(string(b)))
}
