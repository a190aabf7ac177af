package daemon

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mxrelay/mxrelay/internal/testenv"
)

// TestPflogsumm: pflogsumm (Debian's package, run by .ci/run) counts the
// same messages received, delivered, deferred, bounced, rejected...,
// senders, recipients and their domains in mxrelayd's -log-format
// postfix log as in Postfix 3.7's log of the same traffic. Byte counts
// differ (the Received: header each adds) and are not compared.
func TestPflogsumm(t *testing.T) {
	pflogsumm := testenv.NeedProgram(t, "pflogsumm")
	dir := t.TempDir()
	logPath := filepath.Join(dir, "maillog")
	runLabTraffic(t, dir, labCases, nil, "-log-format", "postfix", "-log-output", logPath)
	// The lab's Postfix logs its relay transport as postfix-oracle/relay
	// (master.cf's -o syslog_name=...): pflogsumm is told that name too.
	theirs := grandTotals(t, pflogsumm, "--syslog-name=postfix-oracle", "testdata/postfix-lab/maillog.maillog")
	ours := grandTotals(t, pflogsumm, logPath)
	if len(theirs) < 10 {
		t.Fatalf("pflogsumm's totals for Postfix's log: %q", theirs)
	}
	for name, n := range theirs {
		if ours[name] != n {
			t.Errorf("pflogsumm %q: Postfix's log %s, mxrelayd's %s", name, n, ours[name])
		}
	}
	if theirs["delivered"] == "0" || theirs["rejected"] == "0" || theirs["deferred"] == "0" || theirs["bounced"] == "0" {
		t.Errorf("the traffic lacks a kind of outcome: %q", theirs)
	}
}

// TestPflogsummActions: pflogsumm counts the same held, discarded and
// reject warnings in both logs of the access actions' sessions.
func TestPflogsummActions(t *testing.T) {
	pflogsumm := testenv.NeedProgram(t, "pflogsumm")
	ours := filepath.Join(t.TempDir(), "maillog")
	_, lines, _ := replayRcptLab(t, "actions")
	if err := os.WriteFile(ours, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	theirs := grandTotals(t, pflogsumm, "testdata/postfix-lab/actions.maillog")
	got := grandTotals(t, pflogsumm, ours)
	for name, n := range theirs {
		if got[name] != n {
			t.Errorf("pflogsumm %q: Postfix's log %s, mxrelayd's %s", name, n, got[name])
		}
	}
	if theirs["held"] == "0" || theirs["discarded"] == "0" || theirs["reject warnings"] == "0" {
		t.Errorf("the sessions lack a kind of action: %q", theirs)
	}
}

var totalRe = regexp.MustCompile(`^\s+(\d+)\s+([a-z][a-z /]+?)(?:\s+\(.*\))?$`)

// grandTotals runs pflogsumm and returns its "Grand Totals" counts by
// name ("received", "delivered", "senders"...), bytes left out.
func grandTotals(t *testing.T, pflogsumm string, args ...string) map[string]string {
	t.Helper()
	out, err := exec.Command(pflogsumm, args...).Output()
	if err != nil {
		t.Fatalf("pflogsumm %s: %v", strings.Join(args, " "), err)
	}
	totals := map[string]string{}
	section := strings.SplitN(string(out), "Per-Hour Traffic Summary", 2)[0]
	for _, line := range strings.Split(section, "\n") {
		if m := totalRe.FindStringSubmatch(line); m != nil && !strings.HasPrefix(m[2], "bytes") {
			totals[m[2]] = m[1]
		}
	}
	return totals
}
