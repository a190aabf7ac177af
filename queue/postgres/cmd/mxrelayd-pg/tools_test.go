package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/queue/postgres/internal/pgtest"
)

// tool runs mxrelayd-pg with args (a queue tool), as from a machine
// without a node, and returns its standard output.
func tool(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, err := command(args...)
	if err != nil {
		t.Fatalf("%q: %v: %s", args, err, errs)
	}
	return out
}

// command runs mxrelayd-pg with args, as a child process.
func command(args ...string) (stdout, stderr string, err error) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+strings.Join(args, "\x1f"))
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	err = cmd.Run()
	return out.String(), errs.String(), err
}

// TestQueueTools: mailq, postqueue, postsuper and postcat work on the
// shared queue without a node of their own, and the nodes follow: a held
// message is not delivered, a released one is at once, and a flush has
// deferred mail delivered at once, long before its next attempt.
func TestQueueTools(t *testing.T) {
	pre := pgtest.Prefix(t)
	hop := startNextHop(t, 0)
	hop.setDown(true)
	node := startNode(t, "nodea.example.test", "-config", mainCFBackoff(t, hop.addr, 2, "1h"), "-queue", dsn(t), "-prefix", pre)
	q := []string{"-queue", dsn(t), "-prefix", pre}
	if err := send(node.addr, 1); err != nil {
		t.Fatal(err)
	}
	// list returns postqueue -j's entry of the message to rcpt.
	list := func(rcpt string) map[string]any {
		t.Helper()
		out := tool(t, append([]string{"postqueue", "-j"}, q...)...)
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("postqueue -j: %q: %v", line, err)
			}
			if strings.Contains(line, `"address":"`+rcpt+`"`) {
				return m
			}
		}
		return nil
	}
	waitFor(t, "a deferral", 30*time.Second, func() bool { return list("u1@example.test")["queue_name"] == "deferred" })
	m := list("u1@example.test")
	id, _ := m["queue_id"].(string)
	if m["queue_name"] != "deferred" || id == "" {
		t.Fatalf("postqueue -j: %v", m)
	}
	if out := tool(t, append([]string{"mailq"}, q...)...); !strings.Contains(out, id) || !strings.Contains(out, "u1@example.test") ||
		!strings.Contains(out, "down for maintenance") || !strings.Contains(out, "in 1 Request.") {
		t.Errorf("mailq:\n%s", out)
	}
	if out := tool(t, append([]string{"postcat", "-q", id}, q...)...); !strings.Contains(out, "*** MESSAGE CONTENTS deferred/"+id) || !strings.Contains(out, "Subject: msg 1") {
		t.Errorf("postcat:\n%s", out)
	}

	tool(t, append([]string{"postsuper", "-h", id}, q...)...)
	if m := list("u1@example.test"); m["queue_name"] != "hold" {
		t.Errorf("after postsuper -h: %v", m)
	}
	hop.setDown(false)
	tool(t, append([]string{"postqueue", "-f"}, q...)...)
	time.Sleep(time.Second)
	if n := len(hop.deliveries()); n != 0 {
		t.Fatalf("a held message was delivered (%d)", n)
	}
	tool(t, append([]string{"postsuper", "-H", id}, q...)...)
	waitFor(t, "delivery once released", 30*time.Second, func() bool { return len(hop.deliveries()) == 1 })

	// Deferred for an hour: postqueue -f has it delivered now.
	hop.setDown(true)
	if err := send(node.addr, 2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a deferral", 30*time.Second, func() bool { return list("u2@example.test")["queue_name"] == "deferred" })
	hop.setDown(false)
	start := time.Now()
	tool(t, append([]string{"postqueue", "-f"}, q...)...)
	waitFor(t, "delivery after postqueue -f", 30*time.Second, func() bool { return len(hop.deliveries()) == 2 })
	t.Logf("delivered %v after postqueue -f", time.Since(start).Round(time.Millisecond))
	waitFor(t, "an empty queue", 30*time.Second, func() bool {
		return strings.Contains(tool(t, append([]string{"mailq"}, q...)...), "Mail queue is empty")
	})
}
