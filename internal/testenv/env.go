package testenv

import (
	"net"
	"os"
	"testing"
)

// NeedEnv returns the environment variable name, which .ci/run exports
// once it has started what (a server the test uses). When it is unset,
// the test is skipped if the CI variable is unset and fails if it is set.
func NeedEnv(t testing.TB, name, what string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if os.Getenv("CI") == "" {
			t.Skipf("%s is not set (CI is unset, so this test skips; under CI=true it fails)", name)
		}
		t.Fatalf("%s is not set, and CI is set: .ci/run must start %s and set it", name, what)
	}
	return v
}

// FreePort returns a TCP port of 127.0.0.1 that was free a moment ago,
// for a server whose configuration names its port (a master.cf).
func FreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}
