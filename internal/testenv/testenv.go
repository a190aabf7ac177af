// Package testenv holds the helpers that mxrelay's tests share to reach
// external programs (Postfix's postmap and smtp-sink, tinycdb's cdb,
// swaks) without making a test that silently skips in CI.
//
// The rule it enforces: a test that needs an external program may skip
// only when the CI environment variable is unset. Under CI=true, .ci/run
// has installed every program the tests use, so a missing program is a
// failure, never a skip.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// sbinDirs are searched after PATH: Postfix installs its tools in
// /usr/sbin, which is not on an unprivileged user's PATH.
var sbinDirs = [...]string{"/usr/sbin", "/usr/local/sbin", "/sbin"}

// NeedProgram returns the path of the external program name, looked up in
// PATH and then in the sbin directories. When it is missing, the test is
// skipped if the CI variable is unset and fails if it is set.
func NeedProgram(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range sbinDirs {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	if os.Getenv("CI") == "" {
		t.Skipf("%s is not installed (CI is unset, so this test skips; under CI=true it fails)", name)
	}
	t.Fatalf("%s is not installed, and CI is set: .ci/run must install it", name)
	return ""
}

// PostfixEnv returns the environment for running a Postfix command such
// as postmap with a private configuration directory (MAIL_CONFIG) holding
// a main.cf with the given lines, so that the machine's own Postfix
// configuration, present or not, plays no part. compatibility_level = 3.6
// is written first, as on a fresh Postfix 3.7 installation.
func PostfixEnv(t testing.TB, mainCF ...string) []string {
	t.Helper()
	dir := t.TempDir()
	text := "compatibility_level = 3.6\n"
	for _, l := range mainCF {
		text += l + "\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "main.cf"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return append(os.Environ(), "MAIL_CONFIG="+dir)
}

// Buffer is an io.Writer that many goroutines may write to while a test
// reads what was written: a daemon's log or output, a child process's
// stdout. Its zero value is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
