package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runDry(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(t.Context(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// The probes shipped with the example all get the reply they expect.
func TestDryRunProbes(t *testing.T) {
	probes, err := os.ReadFile("probes.txt")
	if err != nil {
		t.Fatal(err)
	}
	code, out, errs := runDry(t, string(probes))
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	for _, want := range []string{
		"203.0.113.7 <a@sender.example> <alice@example.com> -> 250 2.1.5 Ok\n",
		"203.0.113.7 <a@sender.example> <carol@example.com> -> 550 5.1.1 <carol@example.com>: Recipient address rejected: User unknown in relay recipient table\n",
		"203.0.113.7 <a@sender.example> <victim@elsewhere.example> -> 554 5.7.1 <victim@elsewhere.example>: Relay access denied\n",
		"192.0.2.10 <me@example.com> <friend@elsewhere.example> -> 250 2.1.5 Ok\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "\n"); n != 9 {
		t.Errorf("%d result lines, want one per probe (9):\n%s", n, out)
	}
	if !strings.Contains(errs, "9 checked, 9 with an expected reply, 0 mismatches, 0 bad lines") {
		t.Errorf("summary: %s", errs)
	}
}

// A probe whose expectation the policy does not meet fails the run: this
// is what makes a probe file a regression test.
func TestDryRunMismatch(t *testing.T) {
	code, out, _ := runDry(t, "203.0.113.7 <a@sender.example> <victim@elsewhere.example> 250\n"+
		"203.0.113.7 <a@sender.example> <alice@example.com> 250\n")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(out, `Relay access denied  MISMATCH (stdin:1 wants "250")`) {
		t.Errorf("mismatch not reported:\n%s", out)
	}
	if strings.Count(out, "MISMATCH") != 1 {
		t.Errorf("only the first probe mismatches:\n%s", out)
	}
}

// Bad lines are reported with their line number and fail the run; the
// other lines are still decided.
func TestDryRunBadLines(t *testing.T) {
	code, out, errs := runDry(t, "# comment\n\nnot-an-ip <a@b.example> <alice@example.com>\n"+
		"203.0.113.7 <a@sender.example>\n203.0.113.7 <> <alice@example.com>\n")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{"stdin:3: client \"not-an-ip\"", "stdin:4: want CLIENT-IP SENDER RECIPIENT"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	if out != "203.0.113.7 <> <alice@example.com> -> 250 2.1.5 Ok\n" {
		t.Errorf("stdout:\n%s", out)
	}
}

// -v names what decided; -config takes another main.cf, whose traps are
// printed as warnings.
func TestDryRunVerboseAndConfig(t *testing.T) {
	_, out, _ := runDry(t, "203.0.113.7 <a@sender.example> <alice+x@example.com>\n", "-v")
	if !strings.Contains(out, "-> 250 2.1.5 Ok  [reject_unlisted_recipient relay_recipient_maps alice@example.com=OK]") {
		t.Errorf("-v output:\n%s", out)
	}

	// A backup MX without relay_recipient_maps accepts every localpart
	// (backscatter): the run says so.
	dir := t.TempDir()
	cf := filepath.Join(dir, "main.cf")
	if err := os.WriteFile(cf, []byte("compatibility_level = 3.6\nmyhostname = mx.example.net\nmydestination =\ninet_interfaces = 192.0.2.2\nmynetworks =\nrelay_domains = example.com\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runDry(t, "203.0.113.7 <> <nobody@example.com> 250\n", "-config", cf)
	if code != 0 || !strings.Contains(out, "-> 250 2.1.5 Ok") {
		t.Errorf("exit %d, stdout:\n%s", code, out)
	}
	if !strings.Contains(errs, "warning: relay_recipient_maps") {
		t.Errorf("no warning about the empty relay_recipient_maps:\n%s", errs)
	}

	if code, _, errs := runDry(t, "", "-config", filepath.Join(dir, "missing.cf")); code != 2 || !strings.Contains(errs, "missing.cf") {
		t.Errorf("missing config: exit %d, %s", code, errs)
	}
}
