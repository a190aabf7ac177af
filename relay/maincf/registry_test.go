package maincf

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxrelay/mxrelay/internal/testenv"
)

// TestRegistryCurrent regenerates the registry from the installed
// Postfix's "postconf -d" and requires it to equal postfix_defaults.go:
// the list of parameters and their defaults is Postfix's, not typed.
func TestRegistryCurrent(t *testing.T) {
	postconf := testenv.NeedProgram(t, "postconf")
	out := filepath.Join(t.TempDir(), "postfix_defaults.go")
	cmd := exec.Command("go", "run", "./internal/genparams", "-postconf", postconf, "-o", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("genparams: %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("postfix_defaults.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("postfix_defaults.go differs from what %s -d gives: run go generate ./relay/maincf", postconf)
	}
}

// TestRegistryKnowsUsed: every parameter mxrelay reads is one Postfix
// knows, so that no typo in the registry of used parameters goes unseen;
// mxrelay's own are named "mxrelay_..." and unknown to Postfix.
func TestRegistryKnowsUsed(t *testing.T) {
	for n := range own {
		if _, known := Default(n); known || !strings.HasPrefix(n, "mxrelay_") {
			t.Errorf("%s is registered as mxrelay's own but is not named mxrelay_... or Postfix knows it", n)
		}
	}
	for _, n := range UsedNames() {
		if _, ok := Default(n); !ok && !Own(n) {
			t.Errorf("%s is registered as used but Postfix does not know it", n)
		}
	}
}
