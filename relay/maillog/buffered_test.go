package maillog

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a writer that records each Write, optionally blocking until
// released.
type recorder struct {
	mu     sync.Mutex
	writes []string
	gate   chan struct{} // when set, each Write waits for a value
	err    error
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.gate != nil {
		<-r.gate
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, string(p))
	return len(p), r.err
}

func (r *recorder) all() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.writes, "")
}

// Lines written from many goroutines all come out, whole, each
// goroutine's in its order, once Close returns.
func TestBufferedOrderAndClose(t *testing.T) {
	var r recorder
	b := NewBuffered(&r, &BufferedOptions{Max: 256})
	const writers, lines = 20, 300
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range lines {
				if _, err := fmt.Fprintf(b, "g%d line %d\n", g, i); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	next := make([]int, writers)
	got := strings.Split(strings.TrimSuffix(r.all(), "\n"), "\n")
	if len(got) != writers*lines {
		t.Fatalf("%d lines, want %d", len(got), writers*lines)
	}
	for _, l := range got {
		var g, i int
		if _, err := fmt.Sscanf(l, "g%d line %d", &g, &i); err != nil || g >= writers || i != next[g] {
			t.Fatalf("line %q out of order or torn (want g%d line %d)", l, g, next[g])
		}
		next[g]++
	}
	if _, err := b.Write([]byte("late\n")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
	if err := b.Close(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
}

// With Messages each Write is one write of the underlying writer (one
// syslog datagram); without, the lines that waited go out together.
func TestBufferedMessages(t *testing.T) {
	for _, messages := range []bool{true, false} {
		r := recorder{gate: make(chan struct{})}
		b := NewBuffered(&r, &BufferedOptions{Messages: messages})
		io.WriteString(b, "first")
		// The goroutine takes "first" and waits in its Write: the next
		// three wait together.
		for {
			b.mu.Lock()
			n := len(b.buf)
			b.mu.Unlock()
			if n == 0 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		for _, m := range []string{"a", "bb", "ccc"} {
			io.WriteString(b, m)
		}
		close(r.gate)
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		want := []string{"first", "abbccc"}
		if messages {
			want = []string{"first", "a", "bb", "ccc"}
		}
		if fmt.Sprint(r.writes) != fmt.Sprint(want) {
			t.Errorf("Messages=%v: writes %q, want %q", messages, r.writes, want)
		}
	}
}

// A Write beyond Max waits for the writer instead of dropping the line;
// an error of the underlying writer is returned by Close and does not
// stop the lines after it.
func TestBufferedFullAndErrors(t *testing.T) {
	r := recorder{gate: make(chan struct{}), err: errors.New("disk full")}
	b := NewBuffered(&r, &BufferedOptions{Max: 10})
	wrote := make(chan struct{})
	go func() {
		for i := range 5 {
			fmt.Fprintf(b, "line %d\n", i) // 7 bytes: one fits at a time
		}
		close(wrote)
	}()
	for range 5 {
		r.gate <- struct{}{}
	}
	<-wrote
	close(r.gate)
	if err := b.Close(); err == nil || err.Error() != "disk full" {
		t.Errorf("Close: %v, want the writer's error", err)
	}
	if got := r.all(); got != "line 0\nline 1\nline 2\nline 3\nline 4\n" {
		t.Errorf("written %q", got)
	}
}

// BenchmarkHandlerParallel is the relay's logging under many sessions:
// 64 goroutines log a delivery line each to a file through Handler,
// directly (each line one write(2) under the handler's lock) or through
// Buffered.
func BenchmarkHandlerParallel(b *testing.B) {
	for _, buffered := range []bool{false, true} {
		b.Run(fmt.Sprintf("buffered=%v", buffered), func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "maillog"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			var w io.Writer = f
			var bw *Buffered
			if buffered {
				bw = NewBuffered(f, nil)
				w = bw
			}
			log := slog.New(NewHandler(w, &Options{Hostname: "mx2.example.net"}))
			b.SetParallelism(32)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					log.Info(Delivery, KeyQueueID, "8070D442D8921C009D84", KeyTo, "b@example.com",
						KeyRelay, "mx1.example.com[198.51.100.7]:25", KeyDelay, 210*time.Millisecond, KeyDSN, "2.0.0",
						KeyStatus, "sent", KeyReason, "250 2.0.0 Ok", KeyTransport, "relay")
				}
			})
			if bw != nil {
				if err := bw.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
