package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// Tool is one run of a queue tool named as Postfix's (postqueue, postsuper,
// postcat; mailq is postqueue -p): NewTool defines its options on a
// FlagSet, Run sends its requests through a Client and prints the
// replies as Postfix's tools print them. mxrelayd runs it on the control
// socket of the running daemon; mxrelayd-pg on the shared queue itself.
type Tool struct {
	name                              string
	list, json, flush                 bool
	site, show                        string
	kick, hold, release, requeue, del []string
	stdinFor                          *[]string // the option given "-"
}

// NewTool defines the options of the queue tool name ("postqueue",
// "postsuper", "postcat" or "reload") on fs; parse fs, then ReadStdin and
// Run.
func NewTool(name string, fs *flag.FlagSet) *Tool {
	t := &Tool{name: name}
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
	return t
}

// add collects a repeatable queue ID option; "-" reads IDs from
// standard input, one per line, as postsuper does.
func (t *Tool) add(dst *[]string) func(string) error {
	return func(id string) error {
		if id == "-" {
			t.stdinFor = dst
			return nil
		}
		*dst = append(*dst, id)
		return nil
	}
}

// ReadStdin reads the queue IDs of the option given "-", one per line,
// as postsuper does; without such an option it reads nothing.
func (t *Tool) ReadStdin(r io.Reader) error {
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

// Run performs the tool's operations through c: lists go to stdout,
// postsuper's counts to stderr.
func (t *Tool) Run(ctx context.Context, c *Client, stdout, stderr io.Writer) error {
	switch t.name {
	case "reload":
		_, err := c.Do(ctx, Request{Op: OpReload})
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
		_, err := c.Do(ctx, Request{Op: OpFlush, Site: t.site})
		return err
	case len(t.kick) > 0:
		_, err := c.Do(ctx, Request{Op: OpKick, IDs: t.kick})
		return err
	}
	resp, err := c.Do(ctx, Request{Op: OpList})
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
func (t *Tool) postsuper(ctx context.Context, c *Client, stderr io.Writer) error {
	ops := []struct {
		op, done string
		ids      []string
	}{
		{OpDelete, "Deleted", t.del}, {OpHold, "Placed on hold", t.hold},
		{OpRelease, "Released from hold", t.release}, {OpRequeue, "Requeued", t.requeue},
	}
	given := false
	for _, o := range ops {
		if len(o.ids) == 0 {
			continue
		}
		given = true
		resp, err := c.Do(ctx, Request{Op: o.op, IDs: o.ids})
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
func listMailq(w io.Writer, msgs []Message) error {
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
func listJSON(w io.Writer, msgs []Message) error {
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
func showMessage(ctx context.Context, c *Client, id string, w io.Writer) error {
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

// Main parses args into fs (on which NewTool defined the options),
// connects with open, reads the IDs of standard input and runs the tool.
// It returns the exit status, and prints a failure to stderr as Postfix's
// tools do ("postsuper: fatal: ..."): 2 for bad arguments, 1 for the rest.
func (t *Tool) Main(ctx context.Context, fs *flag.FlagSet, args []string, open func(context.Context) (*Client, func(), error), stdin io.Reader, stdout, stderr io.Writer) int {
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "%s: fatal: %v\n", t.name, err)
		return 1
	}
	c, closeQueue, err := open(ctx)
	if err != nil {
		return fail(err)
	}
	defer closeQueue()
	if err := t.ReadStdin(stdin); err != nil {
		return fail(err)
	}
	if err := t.Run(ctx, c, stdout, stderr); err != nil {
		return fail(err)
	}
	return 0
}
