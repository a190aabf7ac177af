package lookup

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxrelay/mxrelay/internal/testenv"
)

// compileWarnings formats Compile's warnings for testdata/compile/NAME as
// postmap prints them, with the file shown as NAME.
func compileWarnings(t *testing.T, name string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata/compile", name))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	os.WriteFile(p, src, 0o644)
	ws, err := Compile(p, CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, w := range ws {
		b.WriteString("postmap: warning: " + strings.ReplaceAll(w.String(), p, name) + "\n")
	}
	return b.String()
}

// TestCompileWarningsArePostmaps: every line postmap skips or doubts in
// testdata/compile/tricky is reported, in postmap's words and order
// (tricky.warnings is postmap's stderr, see gen.sh).
func TestCompileWarningsArePostmaps(t *testing.T) {
	want, err := os.ReadFile("testdata/compile/tricky.warnings")
	if err != nil {
		t.Fatal(err)
	}
	if got := compileWarnings(t, "tricky"); got != string(want) {
		t.Errorf("warnings differ from postmap's:\ngot:\n%s\nwant:\n%s", got, want)
	}
}

// TestCompileWarningsAreLivePostmaps re-runs the installed postmap, so the
// golden warnings cannot drift.
func TestCompileWarningsAreLivePostmaps(t *testing.T) {
	postmap := testenv.NeedProgram(t, "postmap")
	src, _ := os.ReadFile("testdata/compile/tricky")
	p := filepath.Join(t.TempDir(), "tricky")
	os.WriteFile(p, src, 0o644)
	cmd := exec.Command(postmap, "cdb:"+p)
	cmd.Env = testenv.PostfixEnv(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("postmap: %v\n%s", err, out)
	}
	if got := strings.ReplaceAll(string(out), p, "tricky"); got != compileWarnings(t, "tricky") {
		t.Errorf("postmap's warnings now:\n%s\nours:\n%s", got, compileWarnings(t, "tricky"))
	}
}
