package daemon

import (
	"context"
	"flag"
	"fmt"
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mxrelay/mxrelay/queue"
)

// TestQueueURLRefused: without a queue type linked in, -queue
// postgres://... is refused naming both commands that run on
// PostgreSQL, by the daemon and the queue tools, and no directory named
// after the URL is made.
func TestQueueURLRefused(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	url := "postgres://mxrelay@db.example.test/mail"
	for _, args := range [][]string{
		{"-queue", url, "-listen", "127.0.0.1:0", "-dns", noDNS},
		{"mailq", "-queue", url},
	} {
		code, _, errs := admin(t, "", args...)
		if code == 0 || !strings.Contains(errs, "mxrelayd-pg") || !strings.Contains(errs, "examples/mxrelayd/all") {
			t.Errorf("%q: exit %d, stderr %q", args, code, errs)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "postgres:")); err == nil {
		t.Error("a directory named postgres: was made")
	}
	for v, want := range map[string]string{"/var/spool/mxrelay": "", "./q://x": "", "q": "", "postgres://db/mail": "postgres", "PostgreSQL://db": "PostgreSQL"} {
		if got := queueScheme(v); got != want {
			t.Errorf("queueScheme(%q) = %q, want %q", v, got, want)
		}
	}
}

// memoryType is a QueueType of shared in-memory queues, mem://NAME, with
// a flag of its own: what a command of another module links in.
type memoryType struct {
	mu     sync.Mutex
	queues map[string]*queue.Memory
	opens  []QueueOptions
}

func (m *memoryType) queueType() QueueType {
	return QueueType{Schemes: []string{"mem", "memory"}, Define: func(fs *flag.FlagSet) OpenQueueFunc {
		label := fs.String("mem-label", "", "a flag of the queue type")
		return func(_ context.Context, url string, o QueueOptions) (*OpenedQueue, error) {
			m.mu.Lock()
			defer m.mu.Unlock()
			if *label == "fail" {
				return nil, fmt.Errorf("cannot open %s", url)
			}
			m.opens = append(m.opens, o)
			q := m.queues[url]
			if q == nil {
				q = queue.NewMemory()
				m.queues[url] = q
			}
			return &OpenedQueue{Queue: q, Name: "memory " + *label, Close: func() error { return nil }}, nil
		}
	}}
}

// A QueueType linked in (Options.Queues) runs the daemon on a queue
// named by URL, with the type's flags: mail is stored there, the queue
// tools given the URL open it themselves (as a tool, not a node), the
// node's own files go to $queue_directory/mxrelay, and a tool sent there
// while no daemon runs is told the mail is elsewhere; reload needs the
// node's directory; a scheme not linked in is refused naming those that
// are.
func TestQueueType(t *testing.T) {
	mt := &memoryType{queues: map[string]*queue.Memory{}}
	h := func() *hooks { return &hooks{queues: []QueueType{mt.queueType()}} }
	// call runs mxrelayd with the queue type linked in.
	call := func(args ...string) (code int, stdout, stderr string) {
		var out, errs output
		code = run(context.Background(), args, &out, &errs, h())
		return code, out.String(), errs.String()
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "main.cf")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`compatibility_level = 3.6
myhostname = mx2.example.test
mynetworks =
relay_domains = example.test
relay_recipient_maps = inline:{ alice@example.test=OK }
relay_transport = relay:[127.0.0.1]:1
maximal_backoff_time = 1h
minimal_backoff_time = 1h
queue_directory = %s
`, dir)), 0o644)
	d := startWith(t, h(), "-config", cfg, "-queue", "mem://one", "-mem-label", "cluster", "-listen", "127.0.0.1:0", "-dns", noDNS)
	if !strings.Contains(d.out.String(), "queue memory cluster") {
		t.Errorf("stdout: %s", d.out)
	}
	if err := smtp.SendMail(d.addr, nil, "you@sender.example", []string{"alice@example.test"}, []byte("Subject: shared\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	if n := mt.queues["mem://one"].Len(); n != 1 {
		t.Errorf("%d messages in the linked-in queue, want 1", n)
	}
	if _, err := os.Stat(filepath.Join(dir, queueSubdir, controlSocket)); err != nil {
		t.Errorf("the node's control socket: %v", err)
	}

	// The scheme is case-insensitive; MEMORY://one is another queue.
	if code, out, errs := call("mailq", "-queue", "MEMORY://one"); code != 0 || !strings.Contains(out, "Mail queue is empty") {
		t.Errorf("mailq of another URL: exit %d %q %q", code, out, errs)
	}
	if code, out, errs := call("mailq", "-queue", "mem://one", "-mem-label", "tool"); code != 0 || !strings.Contains(out, "alice@example.test") {
		t.Errorf("mailq -queue mem://one: exit %d %q %q", code, out, errs)
	}
	mt.mu.Lock()
	if last := mt.opens[len(mt.opens)-1]; !last.Tool || mt.opens[0].Tool {
		t.Errorf("opened as %+v", mt.opens)
	}
	mt.mu.Unlock()
	if code, _, errs := call("reload", "-queue", "mem://one"); code == 0 || !strings.Contains(errs, "-config") {
		t.Errorf("reload -queue URL: exit %d %q", code, errs)
	}
	if code, _, errs := call("reload", "-config", cfg); code != 0 {
		t.Errorf("reload -config: exit %d %q", code, errs)
	}
	if code, _, errs := call("mailq", "-queue", "other://x"); code == 0 || !strings.Contains(errs, "mem://, memory://") {
		t.Errorf("a scheme not linked in: exit %d %q", code, errs)
	}
	if code, _, errs := call("-config", cfg, "-queue", "mem://two", "-mem-label", "fail", "-listen", "127.0.0.1:0", "-dns", noDNS); code == 0 || !strings.Contains(errs, "cannot open mem://two") {
		t.Errorf("a queue that fails to open: exit %d %q", code, errs)
	}

	if code := d.stop(); code != 0 {
		t.Fatalf("exit %d: %s", code, d.errs)
	}
	if !strings.Contains(d.out.String(), "the queue stays in memory cluster") {
		t.Errorf("stdout: %s", d.out)
	}
	if code, out, errs := call("mailq", "-config", cfg); code == 0 || !strings.Contains(errs, "whose queue is memory cluster") {
		t.Errorf("mailq -config without a running node: exit %d %q %q", code, out, errs)
	}

	// The same directory as a spool again: the mail is there.
	d = startWith(t, h(), "-config", cfg, "-listen", "127.0.0.1:0", "-dns", noDNS)
	if code := d.stop(); code != 0 {
		t.Fatalf("the spool in the node's directory: exit %d: %s", code, d.errs)
	}
	if code, out, errs := call("mailq", "-config", cfg); code != 0 || !strings.Contains(out, "Mail queue is empty") {
		t.Errorf("mailq -config of the spool: exit %d %q %q", code, out, errs)
	}
}
