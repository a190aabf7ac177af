package control_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/queue/control"
)

// A tool holds every message and lists them, in process on a queue (as
// with a stopped relay); against a running relay, control.Dial(path)
// gives a Client that does the same over its socket.
func Example() {
	ctx := context.Background()
	sched := queue.NewScheduler(queue.NewMemory(), queue.Config{})
	e := &queue.Envelope{Sender: "alice@example.org", Recipients: []queue.Recipient{{Address: "bob@example.com"}}}
	if err := sched.Store(ctx, e, strings.NewReader("Subject: hi\r\n\r\nhello\r\n")); err != nil {
		panic(err)
	}
	c := control.Local(&control.Server{Scheduler: sched})
	held, _ := c.Do(ctx, control.Request{Op: control.OpHold, IDs: []string{control.All}})
	list, _ := c.Do(ctx, control.Request{Op: control.OpList})
	m := list.Messages[0]
	fmt.Println(held.Count, "held;", m.QueueName, m.Sender, "->", m.Recipients[0].Address)
	// Output: 1 held; hold alice@example.org -> bob@example.com
}
