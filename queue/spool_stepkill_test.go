package queue

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// The step-kill test runs a fixed script of spool operations in a child
// process that SIGKILLs itself just before the n-th file system step
// (write, fsync, rename, directory fsync, unlink), for every n: in the
// middle of a group commit, of a large Store, of a Modify, of each kind of
// Remove, of a segment's deletion. The parent then opens the spool and
// checks that every operation the child finished holds and that the one
// under way is either wholly done or not at all.
const stepKillEnv = "MXRELAY_QUEUE_STEPKILL"

// stepOp is one operation of the script on the messages ids.
type stepOp struct {
	kind byte // 'S' store (several ids: one group commit), 'M' modify, 'R' remove
	ids  []ID
}

var stepScript = []stepOp{
	{'S', []ID{"A", "B", "C"}}, {'S', []ID{"L"}}, {'M', []ID{"A"}}, {'M', []ID{"L"}},
	{'R', []ID{"B"}}, {'R', []ID{"L"}}, {'R', []ID{"A"}}, {'R', []ID{"C"}}, {'S', []ID{"D"}},
	{'M', []ID{"D"}}, {'S', []ID{"E"}},
}

func stepBody(id ID) string {
	if id == "L" {
		return strings.Repeat("large body of L\r\n", 10000)
	}
	return "body of " + string(id)
}

// runStepScript runs the script on s, calling done(i) after op i.
func runStepScript(t *testing.T, s *Spool, done func(i int)) {
	ctx := context.Background()
	for i, op := range stepScript {
		switch {
		case op.kind == 'S' && len(op.ids) > 1:
			storeBatch(t, s, op.ids...)
		case op.kind == 'S':
			e := &Envelope{ID: op.ids[0], Recipients: []Recipient{{Address: "u@example.com"}}}
			if err := s.Store(ctx, e, strings.NewReader(stepBody(op.ids[0]))); err != nil {
				t.Fatal(err)
			}
		case op.kind == 'M':
			if err := s.Modify(ctx, op.ids[0], func(e *Envelope) error { e.Attempts = 1; return nil }); err != nil {
				t.Fatal(err)
			}
		case op.kind == 'R':
			if err := s.Remove(ctx, op.ids[0]); err != nil {
				t.Fatal(err)
			}
		}
		done(i)
	}
}

func TestStepKill(t *testing.T) {
	if v := os.Getenv(stepKillEnv); v != "" {
		dir, at, _ := strings.Cut(v, ":")
		n, _ := strconv.Atoi(at)
		calls := 0
		s, err := OpenSpool(context.Background(), dir, &SpoolOptions{fault: func(op, name string) error {
			if calls++; calls == n {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
			return nil
		}})
		if err != nil {
			fmt.Fprintln(os.Stderr, "child: open:", err)
			os.Exit(3)
		}
		runStepScript(t, s, func(i int) { os.Stdout.WriteString(fmt.Sprintf("done %d\n", i)) })
		s.Close()
		os.Stdout.WriteString("finished\n")
		os.Exit(0)
	}
	if testing.Short() {
		t.Skip("step-kill test: not in -short mode")
	}
	// Count the steps of the script.
	steps := 0
	s, err := OpenSpool(context.Background(), t.TempDir(), &SpoolOptions{fault: func(op, name string) error { steps++; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	runStepScript(t, s, func(int) {})
	s.Close()
	if steps < 30 {
		t.Fatalf("the script takes only %d steps", steps)
	}
	for n := 1; n <= steps+1; n++ {
		dir := t.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run=^TestStepKill$", "-test.count=1")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s:%d", stepKillEnv, dir, n))
		out, err := cmd.Output()
		last := -1
		sc := bufio.NewScanner(strings.NewReader(string(out)))
		for sc.Scan() {
			fmt.Sscanf(sc.Text(), "done %d", &last)
		}
		var ee *exec.ExitError
		killed := errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL
		if n <= steps && !killed || n > steps && (err != nil || last != len(stepScript)-1) {
			t.Fatalf("step %d: child ended with %v after op %d: %s", n, err, last, out)
		}
		checkStepKill(t, dir, n, last)
	}
	t.Logf("killed before each of the %d file system steps of the script", steps)
}

// checkStepKill opens the spool after a kill during op last+1 and checks
// it against the script.
func checkStepKill(t *testing.T, dir string, n, last int) {
	t.Helper()
	ctx := context.Background()
	type state struct {
		present  bool
		attempts int
	}
	before := map[ID]state{}
	for _, op := range stepScript[:last+1] {
		for _, id := range op.ids {
			before[id] = map[byte]state{'S': {true, 0}, 'M': {true, 1}, 'R': {false, 0}}[op.kind]
		}
	}
	after := map[ID]state{}
	if last+1 < len(stepScript) {
		op := stepScript[last+1]
		for _, id := range op.ids {
			after[id] = map[byte]state{'S': {true, 0}, 'M': {true, 1}, 'R': {false, 0}}[op.kind]
		}
	}
	s, err := OpenSpool(ctx, dir, nil)
	if err != nil {
		t.Fatalf("kill at step %d (during op %d): the spool does not open: %v", n, last+1, err)
	}
	defer s.Close()
	if r := s.Recovered(); len(r) > 0 {
		t.Errorf("kill at step %d: files set aside: %+v", n, r)
	}
	for _, id := range []ID{"A", "B", "C", "D", "E", "L"} {
		var got state
		e, err := s.Get(ctx, id)
		switch {
		case err == nil:
			got = state{true, e.Attempts}
			if b := body(t, s, id); b != stepBody(id) {
				t.Errorf("kill at step %d: %s: body damaged", n, id)
			}
		case !errors.Is(err, ErrNotFound):
			t.Fatalf("kill at step %d: Get %s: %v", n, id, err)
		}
		a, inFlight := after[id]
		if got != before[id] && !(inFlight && got == a) {
			t.Errorf("kill at step %d (op %d under way): %s is %+v; want %+v (or %+v if under way: %v)", n, last+1, id, got, before[id], a, inFlight)
		}
	}
}
