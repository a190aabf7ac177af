package daemon

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxrelay/mxrelay/internal/testenv"
)

// The systemd unit in this directory passes systemd-analyze verify, with
// ExecStart pointing at a freshly built mxrelayd, and starts it with
// -config on port 25 as the README's deployment says.
func TestSystemdUnit(t *testing.T) {
	analyze := testenv.NeedProgram(t, "systemd-analyze")
	unit, err := os.ReadFile("../mxrelayd.service")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "ExecStart=/usr/local/bin/mxrelayd -config /etc/postfix/main.cf") {
		t.Fatal("ExecStart does not run mxrelayd with -config")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "mxrelayd")
	if out, err := exec.Command("go", "build", "-o", bin, "..").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	path := filepath.Join(dir, "mxrelayd.service")
	os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/mxrelayd", bin)), 0o644)
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
