package queue_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/queue"
)

// The crash test re-executes the test binary as a child that stores,
// modifies and removes messages in a spool as fast as it can and prints a
// line after each operation returns. The parent SIGKILLs it at a random
// moment, then opens the spool itself and checks that everything the
// child acknowledged is there and intact, that nothing half-written is
// visible, and that no file had to be moved aside.
//
// Every fourth round an extra child is killed at a random moment right
// after it starts opening the spool, so that kills also land in the
// opening scan's repairs (unfinished writes, interrupted removals, empty
// segments) left by the previous kill. Rounds alternate between 4 and 16
// writers, so that group-committed segments hold from one to many
// messages when a kill lands in their write.
//
// MXRELAY_CRASH_KILLS sets the number of kills (default 200).
const crashChildEnv = "MXRELAY_QUEUE_CRASH_CHILD"

// crashBody is the body the child stores under id: mostly a few KiB,
// sometimes a few hundred, so kills land in the middle of long writes too.
func crashBody(id string) []byte {
	h := fnv.New64a()
	h.Write([]byte(id))
	seed := h.Sum64()
	n := int(seed % 6000)
	if seed%7 == 0 {
		n = int(seed % (400 << 10))
	}
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b
}

func crashChild(dir, gen string, writers int) {
	ctx := context.Background()
	var out sync.Mutex
	say := func(format string, a ...any) {
		line := fmt.Sprintf(format+"\n", a...)
		out.Lock()
		os.Stdout.WriteString(line) // unbuffered: a line is out once written
		out.Unlock()
	}
	go func() { time.Sleep(20 * time.Second); os.Exit(4) }() // never outlive the parent
	say("OPENING")
	s, err := queue.OpenSpool(ctx, dir, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: open:", err)
		os.Exit(3)
	}
	say("READY")
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			var mine []queue.ID
			for i := 0; ; i++ {
				id := queue.ID(fmt.Sprintf("G%s-W%d-%d", gen, w, i))
				e := &queue.Envelope{ID: id, Sender: "s@example.org", Arrival: t0, NextAttempt: t0,
					Recipients: []queue.Recipient{{Address: "u@example.com"}, {Address: "v@example.net"}}}
				if err := s.Store(ctx, e, bytes.NewReader(crashBody(string(id)))); err != nil {
					fmt.Fprintln(os.Stderr, "child: store:", err)
					os.Exit(5)
				}
				say("S %s", id)
				mine = append(mine, id)
				if i%3 == 2 {
					m := mine[len(mine)-2]
					if err := s.Modify(ctx, m, func(e *queue.Envelope) error {
						e.Attempts = i
						e.Recipients[0].State, e.Recipients[0].Reason = queue.Deferred, "451 r"+strconv.Itoa(i)
						return nil
					}); err != nil {
						fmt.Fprintln(os.Stderr, "child: modify:", err)
						os.Exit(6)
					}
					say("M %s %d", m, i)
				}
				if i%5 == 4 {
					r := mine[0]
					mine = mine[1:]
					say("r %s", r) // may be gone from now on
					if err := s.Remove(ctx, r); err != nil {
						fmt.Fprintln(os.Stderr, "child: remove:", err)
						os.Exit(7)
					}
					say("R %s", r)
				}
			}
		})
	}
	wg.Wait()
}

func TestSpoolCrash(t *testing.T) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		writers, _ := strconv.Atoi(os.Getenv(crashChildEnv + "_WRITERS"))
		crashChild(dir, os.Getenv(crashChildEnv+"_GEN"), writers)
		return
	}
	if testing.Short() {
		t.Skip("crash test: not in -short mode")
	}
	kills := 200
	if v := os.Getenv("MXRELAY_CRASH_KILLS"); v != "" {
		kills, _ = strconv.Atoi(v)
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	stored := map[queue.ID]bool{}   // acknowledged Store
	modified := map[queue.ID]int{}  // acknowledged Modify: Attempts
	removed := map[queue.ID]bool{}  // acknowledged Remove
	removing := map[queue.ID]bool{} // Remove started (maybe done)
	var acks, total, early int
	var childTime, verifyTime time.Duration
	record := func(lines []string) {
		for _, l := range lines {
			f := strings.Fields(l)
			switch {
			case len(f) == 2 && f[0] == "S":
				stored[queue.ID(f[1])] = true
			case len(f) == 3 && f[0] == "M":
				modified[queue.ID(f[1])], _ = strconv.Atoi(f[2])
			case len(f) == 2 && f[0] == "R":
				removed[queue.ID(f[1])] = true
			case len(f) == 2 && f[0] == "r":
				removing[queue.ID(f[1])] = true
			default:
				continue
			}
			acks++
		}
	}
	for gen := range kills {
		st := time.Now()
		writers := []int{4, 16}[gen%2]
		record(runChild(t, dir, strconv.Itoa(gen), writers, "READY", time.Duration(rng.IntN(40_000))*time.Microsecond))
		if gen%4 == 3 {
			// Kill the next child while it opens the spool, before any
			// check repaired what this kill left.
			lines := runChild(t, dir, strconv.Itoa(gen)+"r", writers, "OPENING", time.Duration(rng.IntN(3_000))*time.Microsecond)
			if !slices.Contains(lines, "READY") {
				early++
			}
			record(lines)
		}
		childTime += time.Since(st)
		st = time.Now()
		total += verifySpool(t, dir, gen, stored, modified, removed, removing)
		verifyTime += time.Since(st)
		if t.Failed() {
			t.Fatalf("after kill %d", gen+1)
		}
	}
	t.Logf("%d kills (and %d more during the opening, %d before it ended), %d acknowledged operations, %d message checks; %v in children, %v verifying",
		kills, kills/4, early, acks, total, childTime, verifyTime)
	if acks < kills {
		t.Errorf("only %d operations acknowledged over %d runs: the child barely ran", acks, kills)
	}
}

// runChild starts a child with that many writers on dir, kills it after
// delay (counted from its line mark: OPENING or READY) and returns the
// lines it printed.
func runChild(t *testing.T, dir, gen string, writers int, mark string, delay time.Duration) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSpoolCrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, crashChildEnv+"_GEN="+gen,
		crashChildEnv+"_WRITERS="+strconv.Itoa(writers))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var lines []string
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		r := false
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if !r && sc.Text() == mark {
				r = true
				close(ready)
			}
		}
		if !r {
			close(ready)
		}
	}()
	<-ready
	time.Sleep(delay)
	cmd.Process.Signal(syscall.SIGKILL)
	<-done
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL: %v\n%s", err, stderr.Bytes())
	}
	return lines
}

// verifySpool opens the spool as after a crash and checks it; it then
// removes most acknowledged messages so the spool stays small.
func verifySpool(t *testing.T, dir string, gen int, stored map[queue.ID]bool, modified map[queue.ID]int, removed, removing map[queue.ID]bool) int {
	t.Helper()
	ctx := context.Background()
	s, err := queue.OpenSpool(ctx, dir, nil)
	if err != nil {
		t.Fatalf("spool does not open after a kill: %v", err)
	}
	defer s.Close()
	if r := s.Recovered(); len(r) > 0 {
		t.Errorf("files moved aside after a kill (half-written or damaged): %+v", r)
	}
	seen := map[queue.ID]bool{}
	checks := 0
	err = s.Walk(ctx, func(e *queue.Envelope) error {
		seen[e.ID] = true
		checks++
		if removed[e.ID] {
			t.Errorf("%s: removal was acknowledged but the message is back", e.ID)
		}
		want := crashBody(string(e.ID))
		if e.Size != int64(len(want)) {
			t.Errorf("%s: size %d, want %d", e.ID, e.Size, len(want))
		}
		if n, ok := modified[e.ID]; ok && (e.Attempts != n || e.Recipients[0].Reason != "451 r"+strconv.Itoa(n)) {
			t.Errorf("%s: acknowledged modification lost: attempts %d reason %q, want %d", e.ID, e.Attempts, e.Recipients[0].Reason, n)
		}
		rc, err := s.Body(ctx, e.ID)
		if err != nil {
			t.Errorf("%s: body: %v", e.ID, err)
			return nil
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: body damaged (%d bytes, err %v)", e.ID, len(got), err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	for id := range stored {
		if !removing[id] && !seen[id] {
			_, statErr := os.Stat(dir + "/msg/" + string(id))
			t.Errorf("%s: acknowledged message lost (stat: %v)", id, statErr)
		}
	}
	// Keep the spool small: remove (as acknowledged) what was checked,
	// except a few that stay for the next ten rounds.
	for id := range seen {
		var g int
		fmt.Sscanf(string(id), "G%d-", &g)
		if fnv32(string(id))%10 != 0 || g < gen-10 {
			if err := s.Remove(ctx, id); err != nil {
				t.Fatal(err)
			}
			removed[id], removing[id] = true, true
		}
	}
	return checks
}

func fnv32(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}
