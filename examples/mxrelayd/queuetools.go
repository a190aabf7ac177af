package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
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
	var t tool
	switch name {
	case "postqueue":
		fs.BoolVar(&t.list, "p", false, "list the queue, as mailq")
		fs.BoolVar(&t.json, "j", false, "list the queue as JSON lines, one per message")
		fs.BoolVar(&t.flush, "f", false, "flush: deferred mail is due now")
		fs.StringVar(&t.site, "s", "", "flush the deferred mail of one site (domain)")
		fs.Func("i", "deliver one deferred message now (queue ID)", t.add(&t.kick))
	case "postsuper":
		fs.Func("h", "hold a message (queue ID, ALL, or - for IDs on standard input)", t.add(&t.hold))
		fs.Func("H", "release a held message", t.add(&t.release))
		fs.Func("r", "requeue a message", t.add(&t.requeue))
		fs.Func("d", "delete a message", t.add(&t.del))
	case "postcat":
		fs.StringVar(&t.show, "q", "", "print the envelope and content of a queued message (queue ID)")
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "%s: fatal: %v\n", name, err)
		return 1
	}
	dir, err := queueDirOf(*queueFlag, *configFlag)
	if err != nil {
		return fail(err)
	}
	c, closeQueue, err := toolClient(ctx, dir)
	if err != nil {
		return fail(err)
	}
	defer closeQueue()
	if err := t.readStdin(stdin); err != nil {
		return fail(err)
	}
	if err := t.run(ctx, name, c, stdout, stderr); err != nil {
		return fail(err)
	}
	return 0
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

// tool is one invocation's options.
type tool struct {
	list, json, flush                 bool
	site, show                        string
	kick, hold, release, requeue, del []string
	stdinFor                          *[]string // the option given "-"
}

// add collects a repeatable queue ID option; "-" reads IDs from
// standard input, one per line, as postsuper does.
func (t *tool) add(dst *[]string) func(string) error {
	return func(id string) error {
		if id == "-" {
			t.stdinFor = dst
			return nil
		}
		*dst = append(*dst, id)
		return nil
	}
}

func (t *tool) readStdin(r io.Reader) error {
	if t.stdinFor == nil {
		return nil
	}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if id := strings.TrimSpace(sc.Text()); id != "" {
			*t.stdinFor = append(*t.stdinFor, id)
		}
	}
	return sc.Err()
}

func (t *tool) run(ctx context.Context, name string, c *control.Client, stdout, stderr io.Writer) error {
	switch name {
	case "reload":
		_, err := c.Do(ctx, control.Request{Op: control.OpReload})
		return err
	case "postcat":
		if t.show == "" {
			return errors.New("usage: postcat -q QUEUE_ID")
		}
		return showMessage(ctx, c, t.show, stdout)
	case "postsuper":
		return t.postsuper(ctx, c, stderr)
	}
	switch {
	case t.flush || t.site != "":
		_, err := c.Do(ctx, control.Request{Op: control.OpFlush, Site: t.site})
		return err
	case len(t.kick) > 0:
		_, err := c.Do(ctx, control.Request{Op: control.OpKick, IDs: t.kick})
		return err
	}
	resp, err := c.Do(ctx, control.Request{Op: control.OpList})
	if err != nil {
		return err
	}
	if t.json {
		return listJSON(stdout, resp.Messages)
	}
	return listMailq(stdout, resp.Messages)
}

// postsuper runs the operations in Postfix's order (delete, hold,
// release, requeue) and reports counts as postsuper does.
func (t *tool) postsuper(ctx context.Context, c *control.Client, stderr io.Writer) error {
	ops := []struct {
		op, done string
		ids      []string
	}{
		{control.OpDelete, "Deleted", t.del}, {control.OpHold, "Placed on hold", t.hold},
		{control.OpRelease, "Released from hold", t.release}, {control.OpRequeue, "Requeued", t.requeue},
	}
	given := false
	for _, o := range ops {
		if len(o.ids) == 0 {
			continue
		}
		given = true
		resp, err := c.Do(ctx, control.Request{Op: o.op, IDs: o.ids})
		if resp.Count > 0 {
			fmt.Fprintf(stderr, "postsuper: %s: %d message%s\n", o.done, resp.Count, plural(resp.Count))
		}
		if err != nil {
			return err
		}
	}
	if !given {
		return errors.New("usage: postsuper -d|-h|-H|-r QUEUE_ID|ALL|-, repeated as needed")
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// listMailq prints the queue as postqueue -p does (showq_compat.c, with
// its long-queue-ID columns: mxrelay's queue IDs are long).
func listMailq(w io.Writer, msgs []control.Message) error {
	bw := bufio.NewWriter(w)
	if len(msgs) == 0 {
		fmt.Fprintln(bw, "Mail queue is empty")
		return bw.Flush()
	}
	var total int64
	for i, m := range msgs {
		if i == 0 {
			fmt.Fprintf(bw, "%-17s %8s %-19s %s\n", "----Queue ID-----", "--Size--", "---Arrival Time----", "--Sender/Recipient------")
		} else {
			fmt.Fprintln(bw)
		}
		id := m.QueueID
		switch m.QueueName {
		case "active":
			id += "*"
		case "hold":
			id += "!"
		}
		sender := m.Sender
		if sender == "" {
			sender = "MAILER-DAEMON"
		}
		arrival := time.Unix(m.ArrivalTime, 0).Format("Mon Jan _2 15:04:05")
		fmt.Fprintf(bw, "%-17s %8d %19.19s %s\n", id, m.MessageSize, arrival, sender)
		reason := ""
		for _, r := range m.Recipients {
			if r.DelayReason != reason {
				reason = r.DelayReason
				show := reason
				if show == "" {
					show = "reason unavailable"
				}
				fmt.Fprintf(bw, "%*s(%s)\n", max(0, 76-len(show)), "", show)
			}
			fmt.Fprintf(bw, "%-17s %8s %-19s %s\n", "", "", "", r.Address)
		}
		total += m.MessageSize
	}
	fmt.Fprintf(bw, "\n-- %d Kbytes in %d Request%s.\n", total/1024, len(msgs), plural(len(msgs)))
	return bw.Flush()
}

// listJSON prints one JSON object per message, as postqueue -j.
func listJSON(w io.Writer, msgs []control.Message) error {
	enc := json.NewEncoder(w)
	for _, m := range msgs {
		if err := enc.Encode(m); err != nil {
			return err
		}
	}
	return nil
}

// showMessage prints a message as postcat -q does: envelope records,
// then the content.
func showMessage(ctx context.Context, c *control.Client, id string, w io.Writer) error {
	var body strings.Builder
	m, err := c.Show(ctx, id, &body)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	name := m.QueueName + "/" + m.QueueID
	fmt.Fprintf(bw, "*** ENVELOPE RECORDS %s ***\n", name)
	fmt.Fprintf(bw, "message_size: %d\n", m.MessageSize)
	fmt.Fprintf(bw, "message_arrival_time: %s\n", time.Unix(m.ArrivalTime, 0).Format("Mon Jan _2 15:04:05 2006"))
	fmt.Fprintf(bw, "sender: %s\n", m.Sender)
	for _, r := range m.Recipients {
		fmt.Fprintf(bw, "recipient: %s\n", r.Address)
	}
	fmt.Fprintf(bw, "*** MESSAGE CONTENTS %s ***\n", name)
	bw.WriteString(strings.ReplaceAll(body.String(), "\r\n", "\n"))
	fmt.Fprintf(bw, "*** MESSAGE FILE END %s ***\n", name)
	return bw.Flush()
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
