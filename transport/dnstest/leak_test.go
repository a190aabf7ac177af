package dnstest

import (
	"runtime"
	"testing"
	"time"
)

// Close stops every goroutine of the server: none is left behind. (A
// goroutine that has finished its work still counts until the runtime
// reaps it, so the count is polled, within a generous bound.)
func TestCloseEndsGoroutines(t *testing.T) {
	base := runtime.NumGoroutine()
	for range 20 {
		s, err := Start()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(time.Millisecond)
	}
}
