package main

import (
	"context"
	"flag"
	"io"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/queue/control"
)

// toolNames are the queue tools mxrelayd-pg runs as subcommands, named as
// Postfix's and as mxrelayd's.
var toolNames = map[string]bool{"mailq": true, "postqueue": true, "postsuper": true, "postcat": true}

// runTool runs a queue tool on the shared queue itself: there is no spool
// lock to respect, and every node sees what it does (a flush wakes the
// idle nodes; a hold keeps the message from all of them).
func runTool(ctx context.Context, name string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if name == "mailq" {
		name, args = "postqueue", append([]string{"-p"}, args...)
	}
	fs := flag.NewFlagSet("mxrelayd-pg "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	qf := addQueueFlags(fs)
	t := control.NewTool(name, fs)
	return t.Main(ctx, fs, args, func(ctx context.Context) (*control.Client, func(), error) {
		*qf.nodeTTL = -1 // a tool claims nothing: no node of its own
		q, err := qf.open(ctx, nil)
		if err != nil {
			return nil, nil, err
		}
		c := control.Local(&control.Server{Scheduler: queue.NewScheduler(q, queue.Config{})})
		return c, func() { q.Close() }, nil
	}, stdin, stdout, stderr)
}
