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
		return queueFlag, checkQueueDir(queueFlag)
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
// control socket, else on the queue directory itself.
func runTool(ctx context.Context, name string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mxrelayd "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	queueFlag := fs.String("queue", "", "the queue directory of mxrelayd")
	configFlag := fs.String("config", "", "a main.cf: the queue is $queue_directory/"+queueSubdir)
	t := control.NewTool(name, fs)
	return t.Main(ctx, fs, args, func(ctx context.Context) (*control.Client, func(), error) {
		dir, err := queueDirOf(*queueFlag, *configFlag)
		if err != nil {
			return nil, nil, err
		}
		return toolClient(ctx, dir)
	}, stdin, stdout, stderr)
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
