package dnstest

import (
	"runtime"
	"testing"
)

// Close returns after the server's goroutines have ended.
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
	if n := runtime.NumGoroutine(); n > base {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines after Close, %d before:\n%s", n, base, buf[:runtime.Stack(buf, true)])
	}
}
