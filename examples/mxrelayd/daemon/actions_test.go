package daemon

import (
	"encoding/json"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/transport/dnstest"
)

// rcptLab is a case file of the postfix-lab's rcpt mode
// (testdata/postfix-lab/rcpt/NAME.json): the sessions whose log lines
// Postfix 3.7.11 wrote in testdata/postfix-lab/NAME.maillog.
type rcptLab struct {
	MainCF   map[string]string `json:"main_cf"`
	Maps     map[string]string `json:"maps"`
	Defaults rcptSession       `json:"defaults"`
	Cases    []rcptSession     `json:"cases"`
}

// rcptSession is one session: EHLO, MAIL FROM, the recipients, QUIT; or
// EHLO and the steps.
type rcptSession struct {
	ID     string          `json:"id"`
	Client string          `json:"client"`
	Mail   string          `json:"mail"`
	EHLO   string          `json:"ehlo"`
	Rcpt   json.RawMessage `json:"rcpt"` // one address or a list
	Steps  []string        `json:"steps"`
}

func (s rcptSession) recipients(t *testing.T) []string {
	t.Helper()
	if len(s.Rcpt) == 0 {
		return nil
	}
	var one string
	if json.Unmarshal(s.Rcpt, &one) == nil {
		return []string{one}
	}
	var list []string
	if err := json.Unmarshal(s.Rcpt, &list); err != nil {
		t.Fatalf("case %s: rcpt: %v", s.ID, err)
	}
	return list
}

// TestPostfixActionLines: the lines of access actions (HOLD, DISCARD,
// WARN, INFO), of warn_if_reject, of a non-SMTP command and of unknown
// commands match Postfix 3.7.11's for the same sessions, which pflogsumm
// counts as held, discarded and reject warnings.
func TestPostfixActionLines(t *testing.T) {
	theirs, ours, names := replayRcptLab(t, "actions")
	comparePostfixLogs(t, theirs, ours, names)
}

// TestPostfixStageLines: refusals at MAIL, RCPT (a deferral, a reply
// code of the table's), DATA (with one recipient and with two), and a
// HELO refusal delayed to RCPT, as Postfix 3.7.11 logs them.
func TestPostfixStageLines(t *testing.T) {
	theirs, ours, names := replayRcptLab(t, "stages")
	comparePostfixLogs(t, theirs, ours, names)
}

// replayRcptLab runs the sessions of rcpt/NAME.json through mxrelayd
// configured as the lab's Postfix was (its base main.cf, the file's
// main_cf and maps), and returns Postfix's lines, mxrelayd's, and the
// case names.
func replayRcptLab(t *testing.T, name string) (theirs, ours, names []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata/postfix-lab/rcpt", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var lab rcptLab
	if err := json.Unmarshal(b, &lab); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for file, body := range lab.Maps {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cf := labBaseCF
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range lab.MainCF {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		cf += k + " = " + strings.ReplaceAll(lab.MainCF[k], "{confdir}", dir) + "\n"
	}
	cfg := filepath.Join(dir, "main.cf")
	if err := os.WriteFile(cfg, []byte(cf), 0o644); err != nil {
		t.Fatal(err)
	}
	zone, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer zone.Close()
	if err := zone.AddZone("$ORIGIN 0.0.127.in-addr.arpa.\n1 300 IN PTR localhost.\n$ORIGIN localhost.\n@ 300 IN A 127.0.0.1\n"); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "maillog")
	d := start(t, "-config", cfg, "-listen", "127.0.0.1:0", "-queue", filepath.Join(dir, "q"), "-dns", zone.Addr(),
		"-log-format", "postfix", "-log-output", logPath)
	disconnects := func() int { return strings.Count(strings.Join(readLines(t, logPath), "\n"), " disconnect from ") }
	probe, err := net.Dial("tcp", d.addr)
	if err != nil {
		t.Fatal(err)
	}
	probe.Close()
	waitFor(t, "the probe's disconnect", func() bool { return disconnects() == 1 })
	for i, c := range lab.Cases {
		runRcptSession(t, d.addr, lab.Defaults, c)
		waitFor(t, c.ID+"'s disconnect", func() bool { return disconnects() == i+2 })
		names = append(names, c.ID)
	}
	d.stop()
	return readLines(t, filepath.Join("testdata/postfix-lab", name+".maillog")), readLines(t, logPath), names
}

// runRcptSession is the lab's RCPT probe: EHLO, MAIL, RCPT..., QUIT; or
// EHLO and the steps. Each reply is read, whatever its code.
func runRcptSession(t *testing.T, addr string, def, c rcptSession) {
	t.Helper()
	or := func(v, d string) string {
		if v == "" {
			return d
		}
		return v
	}
	dl := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(or(c.Client, or(def.Client, "127.0.0.1")))}, Timeout: 10 * time.Second}
	nc, err := dl.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	tp := textproto.NewConn(nc)
	cmds := []string{"", "EHLO " + or(c.EHLO, or(def.EHLO, "client.test"))}
	if c.Steps != nil {
		cmds = append(cmds, c.Steps...)
	} else {
		cmds = append(cmds, "MAIL FROM:"+or(c.Mail, or(def.Mail, "<>")))
		for _, r := range c.recipients(t) {
			cmds = append(cmds, fmt.Sprintf("RCPT TO:<%s>", r))
		}
		cmds = append(cmds, "QUIT")
	}
	for _, cmd := range cmds {
		if cmd != "" {
			if err := tp.PrintfLine("%s", cmd); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := tp.ReadResponse(0); err != nil {
			t.Fatalf("%s: %s: %v", c.ID, cmd, err)
		}
	}
}
