package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/queue/control"
	"github.com/mxrelay/mxrelay/relay/maincf"
)

// toolNames are the queue tools mxrelayd runs as subcommands, named as
// Postfix's.
var toolNames = map[string]bool{"mailq": true, "postqueue": true, "postsuper": true, "postcat": true, "reload": true}

// queueSubdir is the directory under main.cf's queue_directory that
// holds mxrelayd's queue, apart from Postfix's own queues.
const queueSubdir = "mxrelay"

// controlSocket is the control socket's name in the queue directory.
const controlSocket = "control"

// queueDirOf is the queue directory: -queue, else queue_directory of
// the -config main.cf plus queueSubdir.
func queueDirOf(queueFlag, configFlag string) (string, error) {
	if queueFlag != "" {
		return queueFlag, nil
	}
	if configFlag == "" {
		return "", errors.New("give -queue DIR or -config main.cf")
	}
	cf, err := maincf.Load(configFlag)
	if err != nil {
		return "", err
	}
	return filepath.Join(cf.Get("queue_directory"), queueSubdir), nil
}

// runTool runs a queue tool: against the running mxrelayd through its
// control socket, else on the queue directory itself; on a shared queue
// named by URL (queues), on that queue itself, whether daemons run on it
// or not.
func runTool(ctx context.Context, name string, args []string, queues []QueueType, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mxrelayd "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	usage := "the queue directory of mxrelayd"
	if len(queues) > 0 {
		usage += ", or the URL of its shared queue"
	}
	qf := addQueueFlags(fs, usage, queues)
	configFlag := fs.String("config", "", "a main.cf: the queue is $queue_directory/"+queueSubdir)
	t := control.NewTool(name, fs)
	return t.Main(ctx, fs, args, func(ctx context.Context) (*control.Client, func(), error) {
		url, err := qf.url()
		if err != nil {
			return nil, nil, err
		}
		if url {
			return sharedToolClient(ctx, name, qf)
		}
		dir, err := queueDirOf(*qf.value, *configFlag)
		if err != nil {
			return nil, nil, err
		}
		return toolClient(ctx, dir)
	}, stdin, stdout, stderr)
}

// sharedToolClient opens the shared queue qf names for a queue tool:
// its changes reach every daemon on the queue (a flush wakes the idle
// ones, a held message is held for all). A reload is for one daemon, the
// one of this machine: it goes through that daemon's control socket.
func sharedToolClient(ctx context.Context, name string, qf *queueFlags) (*control.Client, func(), error) {
	if name == "reload" {
		return nil, nil, errors.New("reload reaches the mxrelayd of this machine through its control socket in $queue_directory/" + queueSubdir +
			": give -config main.cf (or -queue with that directory), not the shared queue's URL")
	}
	q, err := qf.open(ctx, QueueOptions{Tool: true})
	if err != nil {
		return nil, nil, err
	}
	sched := queue.NewScheduler(q.Queue, queue.Config{})
	return control.Local(&control.Server{Scheduler: sched}), func() { q.Close() }, nil
}

// toolClient connects to the running mxrelayd of dir, or opens dir's
// queue when none runs.
func toolClient(ctx context.Context, dir string) (*control.Client, func(), error) {
	sock := filepath.Join(dir, controlSocket)
	c := control.Dial(sock)
	if _, err := os.Stat(sock); err == nil {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := c.Do(pctx, control.Request{Op: control.OpPing})
		cancel()
		if err == nil {
			return c, func() {}, nil
		}
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, nil, fmt.Errorf("queue directory: %w", err)
	}
	if err := checkNodeDir(dir); err != nil {
		return nil, nil, err
	}
	spool, err := queue.OpenSpool(ctx, dir, nil)
	if errors.Is(err, queue.ErrLocked) {
		return nil, nil, fmt.Errorf("the queue %s is in use, but its control socket %s does not answer", dir, sock)
	}
	if err != nil {
		return nil, nil, err
	}
	sched := queue.NewScheduler(spool, queue.Config{})
	return control.Local(&control.Server{Scheduler: sched}), func() { spool.Close() }, nil
}

// serveControl serves the queue tools on the control socket in the queue
// directory until the returned stop is called.
func serveControl(ctx context.Context, dir string, d *relayd, log *slog.Logger) (stop func(), err error) {
	l, err := control.Listen(filepath.Join(dir, controlSocket))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	srv := &control.Server{Current: d.scheduler, Reload: d.reload, Logger: log}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ctx, l); err != nil {
			log.Error("control socket", "err", err)
		}
	}()
	return func() { cancel(); <-done }, nil
}
