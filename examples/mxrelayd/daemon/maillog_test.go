package daemon

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/relay/smtpd"
	"github.com/mxrelay/mxrelay/transport/dnstest"
)

// The goldens in testdata/postfix-lab were recorded with the postfix-lab
// (../shared/tools/postfix-lab, its README), from the repository's
// directory, as root with Postfix installed:
//
//	POSTFIX_LAB_CASES=examples/mxrelayd/daemon/testdata/postfix-lab python3 ../shared/tools/postfix-lab/lab.py run --save-logs --out /tmp/pf
//	cp /tmp/pf/logs/*.maillog examples/mxrelayd/daemon/testdata/postfix-lab/
//
// The lab's master.cf logs the relay transport as postfix-oracle/relay
// (its -o syslog_name): the comparison takes that name as "postfix".

// labCase is one session of a route case file of the postfix-lab
// (testdata/postfix-lab/route/*.json), whose traffic was recorded from
// Postfix 3.7.11 (testdata/postfix-lab/NAME.maillog, lab.py run
// --save-logs).
type labCase struct {
	id     string
	client string // source address: 127.0.0.1 is in mynetworks
	mail   string // MAIL FROM, "<>" when empty
	rcpt   []string
	// The status lines and removals the case ends with.
	statuses, removed int
}

// labCases are route/maillog.json's.
var labCases = []labCase{
	{"delivered", "127.0.0.1", "", []string{"user@b.test"}, 1, 1},
	{"two_rcpts", "127.0.0.1", "", []string{"user@b.test", "other@b.test"}, 2, 1},
	{"relay_denied", "127.0.0.2", "", []string{"user@elsewhere.test"}, 0, 0},
	{"mixed", "127.0.0.2", "", []string{"user@elsewhere.test", "user@b.test"}, 1, 1},
	{"deferred", "127.0.0.1", "", []string{"defer@b.test"}, 1, 0},
	{"bounced", "127.0.0.1", "", []string{"bounce@b.test"}, 1, 1},
	{"dead", "127.0.0.1", "", []string{"one@c.test"}, 1, 0},
	{"suspended", "127.0.0.1", "", []string{"two@c.test"}, 1, 0},
}

// bounceCases are route/bounces.json's: with a sender, whose
// notification is delivered to the sender's MX (a status line and a
// removal more).
var bounceCases = []labCase{
	{"delivered_from_sender", "127.0.0.1", "s@sender.test", []string{"user@b.test"}, 1, 1},
	{"bounced_to_sender", "127.0.0.1", "s@sender.test", []string{"bounce@b.test"}, 2, 2},
}

func caseNames(cs []labCase) []string {
	var names []string
	for _, c := range cs {
		names = append(names, c.id)
	}
	return names
}

// labBaseCF is the postfix-lab's base main.cf (BASE_MAIN in its
// lib/pfx.py), without the parameters of Postfix's own files.
const labBaseCF = `compatibility_level = 3.6
myhostname = mx2.oracle.test
mydomain = oracle.test
myorigin = $myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.1/32
alias_maps =
smtpd_banner = $myhostname ESMTP oracle
delay_warning_time = 0
smtp_connect_timeout = 5s
smtp_helo_timeout = 10s
notify_classes =
`

// labMainCF is the lab's main.cf for route/maillog.json and
// route/bounces.json: the base and the case files' main_cf.
const labMainCF = labBaseCF + `relay_domains = b.test, c.test
relay_recipient_maps =
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
`

// redirectDialer dials the address redirect maps an address to, and
// refuses any other: next hops on port 25 of test addresses are loopback
// servers on ports of their own.
func redirectDialer(redirect map[string]string) dialerFunc {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		to, ok := redirect[address]
		if !ok {
			return nil, fmt.Errorf("connect to %s: connection refused (test network)", address)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, to)
	}
}

// labSink is a lab's next hop (as, the address it stands for): it
// answers as the lab's sinks do, per recipient.
func labSink(t *testing.T, as string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := smtpd.NewServer(smtpd.BackendFunc(func(ctx context.Context, c *smtpd.Client) (smtpd.Session, *smtpd.Reply) {
		return labSinkSession{as: as}, nil
	}), smtpd.Config{Hostname: "sink.test", Banner: "sink.test ESMTP oracle-sink"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			go srv.ServeConn(ctx, nc, nil)
		}
	}()
	t.Cleanup(func() { cancel(); l.Close(); <-done })
	return l.Addr().String()
}

type labSinkSession struct{ as string }

func (labSinkSession) Hello(context.Context, *smtpd.Client) *smtpd.Reply { return nil }
func (labSinkSession) Mail(context.Context, string, smtpd.MailParams) *smtpd.Reply {
	return nil
}
func (labSinkSession) Rcpt(_ context.Context, to string, _ smtpd.RcptParams) *smtpd.Reply {
	switch to {
	case "defer@b.test":
		return &smtpd.Reply{Code: 450, Enhanced: "4.2.0", Text: "<defer@b.test>: try again later"}
	case "bounce@b.test":
		return &smtpd.Reply{Code: 550, Enhanced: "5.1.1", Text: "<bounce@b.test>: no such user"}
	}
	return nil
}
func (labSinkSession) Data(context.Context) *smtpd.Reply { return nil }
func (s labSinkSession) Message(_ context.Context, r io.Reader) *smtpd.Reply {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return &smtpd.Reply{Code: 451, Enhanced: "4.3.0", Text: "read error"}
	}
	return &smtpd.Reply{Code: 250, Enhanced: "2.0.0", Text: "Ok: queued by oracle-sink " + s.as}
}
func (labSinkSession) Reset(context.Context) {}
func (labSinkSession) Close()                {}

// labInject sends one case as the lab's injector does: EHLO, MAIL
// FROM:<>, the recipients, and the message when one was accepted.
func labInject(t *testing.T, addr string, c labCase) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(c.client)}, Timeout: 10 * time.Second}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	tp := textproto.NewConn(nc)
	expect := func(code int) bool {
		t.Helper()
		got, msg, err := tp.ReadResponse(0)
		if err != nil {
			t.Fatalf("%s: %v", c.id, err)
		}
		if got != code {
			if code/100 == 2 && got/100 != 2 {
				return false
			}
			t.Fatalf("%s: got %d %s, want %d", c.id, got, msg, code)
		}
		return true
	}
	cmd := func(code int, format string, a ...any) bool {
		t.Helper()
		if err := tp.PrintfLine(format, a...); err != nil {
			t.Fatal(err)
		}
		return expect(code)
	}
	expect(220)
	cmd(250, "EHLO inject.oracle.test")
	cmd(250, "MAIL FROM:<%s>", c.mail)
	var accepted []string
	for _, r := range c.rcpt {
		if cmd(250, "RCPT TO:<%s>", r) {
			accepted = append(accepted, r)
		}
	}
	if len(accepted) > 0 {
		cmd(354, "DATA")
		w := tp.DotWriter()
		fmt.Fprintf(w, "From: oracle <probe@sender.test>\nTo: %s\nSubject: oracle %s\nX-Oracle-Case: %s\nMessage-ID: <%s.%d@oracle.test>\n\nrouting probe %s\n",
			strings.Join(accepted, ", "), c.id, c.id, c.id, time.Now().UnixMilli(), c.id)
		w.Close()
		expect(250)
	}
	cmd(221, "QUIT")
}

// TestPostfixLogLines runs the lab's traffic through mxrelayd with
// -log-format postfix and compares its lines with Postfix 3.7's for the
// same traffic, field by field: program, queue ID (as the n-th one seen),
// the event and every field, with the values that must differ (times,
// sizes, Message-ID time stamps, queue IDs) checked for their form.
func TestPostfixLogLines(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "maillog")
	ours := runLabTraffic(t, dir, labCases, nil, "-log-format", "postfix", "-log-output", logPath)
	comparePostfixLogs(t, readLines(t, "testdata/postfix-lab/maillog.maillog"), ours, caseNames(labCases))
}

// TestPostfixBounceLines: a bounce to a real sender logs the
// notification ("sender non-delivery notification: NEWID") and the
// notification's own lines (its message-id=, from=<>, its delivery to
// the sender's MX, removed) as Postfix 3.7.11 does
// (testdata/postfix-lab/bounces.maillog).
func TestPostfixBounceLines(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "maillog")
	ours := runLabTraffic(t, dir, bounceCases, nil, "-log-format", "postfix", "-log-output", logPath)
	comparePostfixLogs(t, readLines(t, "testdata/postfix-lab/bounces.maillog"), ours, caseNames(bounceCases))
}

// runLabTraffic starts mxrelayd as the lab's configuration with the
// extra flags (-log-output among them), sends the cases, waits for each
// outcome, calls before (when not nil) with the -metrics address, stops
// mxrelayd and returns its log lines.
func runLabTraffic(t *testing.T, dir string, cases []labCase, before func(metricsAddr string), flags ...string) []string {
	t.Helper()
	zone, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { zone.Close() })
	if err := zone.AddZone(`
$ORIGIN b.test.
@        300 IN MX 10 mx1
@        300 IN MX 20 mx2.oracle.test.
mx1      300 IN A 127.0.0.5
$ORIGIN c.test.
@        300 IN MX 10 mx1
mx1      300 IN A 127.0.0.9
$ORIGIN sender.test.
@        300 IN MX 10 mx
mx       300 IN A 127.0.0.6
$ORIGIN oracle.test.
mx2      300 IN A 127.0.0.1
$ORIGIN 0.0.127.in-addr.arpa.
1        300 IN PTR localhost.
$ORIGIN localhost.
@        300 IN A 127.0.0.1
`); err != nil {
		t.Fatal(err)
	}
	sinkAddr, senderSink := labSink(t, "127.0.0.5:25"), labSink(t, "127.0.0.6:25")
	// 127.0.0.9:25 refuses connections, as nothing listens there in the
	// lab: a port just closed stands in for it.
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := closed.Addr().String()
	closed.Close()
	redirect := map[string]string{"127.0.0.5:25": sinkAddr, "127.0.0.6:25": senderSink, "127.0.0.9:25": refused}
	dialer := redirectDialer(redirect)
	cfg := filepath.Join(dir, "main.cf")
	if err := os.WriteFile(cfg, []byte(labMainCF), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := flags[slices.Index(flags, "-log-output")+1]
	args := append([]string{"-config", cfg, "-listen", "127.0.0.1:0", "-queue", filepath.Join(dir, "q"), "-dns", zone.Addr()}, flags...)
	var metricsAddr string
	d := startWith(t, &hooks{dialer: dialer, metrics: func(a string) { metricsAddr = a }}, args...)
	lines := func() []string { return readLines(t, logPath) }
	count := func(substr string) int {
		n := 0
		for _, l := range lines() {
			if strings.Contains(l, substr) {
				n++
			}
		}
		return n
	}
	// What the lines of a disconnect, a status and a removal contain.
	disconnect, status, removed := " disconnect from ", ", status=", ": removed"
	switch flags[slices.Index(flags, "-log-format")+1] {
	case "json":
		disconnect, status, removed = `"msg":"disconnect"`, `"status":"`, `"msg":"removed"`
	case "text":
		disconnect, status, removed = "msg=disconnect ", " status=", "msg=removed "
	}
	// The lab's injector first checks that the port is open.
	probe, err := net.Dial("tcp", d.addr)
	if err != nil {
		t.Fatal(err)
	}
	probe.Close()
	waitFor(t, "the probe's disconnect", func() bool { return count(disconnect) == 1 })
	statuses, removals := 0, 0
	for i, c := range cases {
		labInject(t, d.addr, c)
		waitFor(t, c.id+"'s disconnect", func() bool { return count(disconnect) == i+2 })
		statuses += c.statuses
		removals += c.removed
		waitFor(t, c.id+"'s status lines", func() bool { return count(status) == statuses })
		waitFor(t, c.id+"'s removals", func() bool { return count(removed) == removals })
	}
	if before != nil {
		before(metricsAddr)
	}
	if code := d.stop(); code != 0 {
		t.Fatalf("mxrelayd exited %d", code)
	}
	return lines()
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// logLine is a Postfix log line taken apart.
type logLine struct {
	program string // after the syslog name: "smtpd", "relay/smtp"
	queueID string // "" when the line has none, "NOQUEUE"
	text    string // the rest, with the values that must differ replaced
	raw     string
}

var (
	linePrefix = regexp.MustCompile(`^[A-Z][a-z]{2} [ 0-3]\d \d\d:\d\d:\d\d \S+ (postfix(?:-oracle)?)/([a-z/-]+)\[\d+\]: (.*)$`)
	queueIDRe  = regexp.MustCompile(`^([0-9A-F]{6,}|NOQUEUE): (.*)$`)
	delayRe    = regexp.MustCompile(`\bdelay=(\d+(?:\.\d\d?)?), delays=(\d+(?:\.\d\d?)?)/(\d+(?:\.\d\d?)?)/(\d+(?:\.\d\d?)?)/(\d+(?:\.\d\d?)?),`)
	sizeRe     = regexp.MustCompile(`\bsize=\d+,`)
	msgIDRe    = regexp.MustCompile(`message-id=<([a-z_]+)\.\d+@oracle\.test>`)
)

// parseLog takes the lines apart; lines of the lab's harness and of
// programs mxrelayd has no counterpart for are left out (see skip).
func parseLog(t *testing.T, lines []string) []logLine {
	t.Helper()
	var out []logLine
	for _, raw := range lines {
		m := linePrefix.FindStringSubmatch(raw)
		if m == nil {
			t.Errorf("not a Postfix log line: %q", raw)
			continue
		}
		l := logLine{program: m[2], text: m[3], raw: raw}
		if skip(l) {
			continue
		}
		if q := queueIDRe.FindStringSubmatch(l.text); q != nil {
			l.queueID, l.text = q[1], q[2]
		}
		l.text = delayRe.ReplaceAllString(l.text, "delay=D, delays=D/D/D/D,")
		l.text = sizeRe.ReplaceAllString(l.text, "size=N,")
		l.text = msgIDRe.ReplaceAllString(l.text, "message-id=<$1.T@oracle.test>")
		out = append(out, l)
	}
	return out
}

// skip reports the lines that have no counterpart on purpose: the lab's
// start and stop (postfix-script, master), its postsuper -d ALL after a
// case that left mail queued, and the smtp client's own "connect to
// ...: Connection refused" line, which Postfix writes before the status
// line that repeats it (mxrelay's client reports it in the status line
// only).
func skip(l logLine) bool {
	switch l.program {
	case "postfix-script", "master", "postsuper":
		return true
	}
	return strings.HasPrefix(l.text, "connect to ") && strings.Contains(l.program, "smtp")
}

// sessions splits the lines by SMTP session: from its "connect from" to
// the next one, with the lines of the messages it queued. What comes
// before the first session (start-up lines) is left out.
func sessions(ls []logLine) [][]logLine {
	var out [][]logLine
	for _, l := range ls {
		if l.program == "smtpd" && strings.HasPrefix(l.text, "connect from ") {
			out = append(out, nil)
		}
		if out != nil {
			out[len(out)-1] = append(out[len(out)-1], l)
		}
	}
	return out
}

// comparePostfixLogs compares session by session: the same lines, field
// by field, each queue ID standing for the same message; within a
// message, the same order.
func comparePostfixLogs(t *testing.T, theirs, ours []string, names []string) {
	t.Helper()
	ps, ms := sessions(parseLog(t, theirs)), sessions(parseLog(t, ours))
	if len(ps) != len(ms) {
		t.Fatalf("Postfix logged %d sessions, mxrelayd %d:\n%s", len(ps), len(ms), strings.Join(ours, "\n"))
	}
	for i := range ps {
		p, m := normalize(ps[i]), normalize(ms[i])
		name := "probe"
		if i > 0 && i <= len(names) {
			name = names[i-1]
		}
		if name == "suspended" {
			checkSuspended(t, ps[i], ms[i])
			continue
		}
		if !slices.Equal(sorted(p), sorted(m)) {
			t.Errorf("session %s differs:\nPostfix:\n  %s\nmxrelayd:\n  %s", name, strings.Join(p, "\n  "), strings.Join(m, "\n  "))
			continue
		}
		// Within a message, the order of its lines.
		for _, q := range queueOrder(p) {
			if !slices.Equal(q, queueOrderOf(m, q[0])) {
				t.Errorf("session %s: message lines in another order:\nPostfix:  %q\nmxrelayd: %q", name, q, queueOrderOf(m, q[0]))
			}
		}
	}
}

// normalize writes each line as "program Qn: text", the queue IDs
// numbered in order of appearance in the session, also where the text
// names one (a notification's ID, a Message-Id made of one).
func normalize(ls []logLine) []string {
	ids := map[string]string{}
	for _, l := range ls {
		if l.queueID != "" && l.queueID != "NOQUEUE" && ids[l.queueID] == "" {
			ids[l.queueID] = fmt.Sprintf("Q%d", len(ids)+1)
		}
	}
	var out []string
	for _, l := range ls {
		q := ""
		switch l.queueID {
		case "":
		case "NOQUEUE":
			q = "NOQUEUE: "
		default:
			q = ids[l.queueID] + ": "
		}
		text := madeIDRe.ReplaceAllString(l.text, "message-id=<T.$1@")
		for raw, label := range ids {
			text = strings.ReplaceAll(text, raw, label)
		}
		out = append(out, l.program+" "+q+text)
	}
	return out
}

// madeIDRe matches a Message-Id made by the MTA (a notification's):
// its time stamp differs.
var madeIDRe = regexp.MustCompile(`message-id=<\d{14}\.([0-9A-F]+)@`)

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// queueOrder returns, per queue ID, the events of its lines in order
// (see event).
func queueOrder(lines []string) [][]string {
	var ids []string
	for _, l := range lines {
		if _, rest, ok := strings.Cut(l, " "); ok && strings.HasPrefix(rest, "Q") {
			id, _, _ := strings.Cut(rest, ":")
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	var out [][]string
	for _, id := range ids {
		out = append(out, queueOrderOf(lines, id))
	}
	return out
}

// queueOrderOf returns the lines of queue ID id (or of the id the first
// line names), in order.
func queueOrderOf(lines []string, idOrLine string) []string {
	id := idOrLine
	if _, rest, ok := strings.Cut(idOrLine, " "); ok {
		id, _, _ = strings.Cut(rest, ":")
	}
	var out []string
	for _, l := range lines {
		if _, rest, ok := strings.Cut(l, " "); ok && strings.HasPrefix(rest, id+":") {
			out = append(out, event(l))
		}
	}
	return out
}

// event is a line's kind: the line up to its first field ("relay/smtp
// Q1: to="), so that the status lines of one delivery, whose order
// Postfix's qmgr decides by sorting recipients, compare as equal.
func event(l string) string {
	if i := strings.IndexAny(l, "=<"); i >= 0 {
		return l[:i+1]
	}
	return l
}

// checkSuspended: Postfix 3.7 tried the second message to the dead
// destination again (the lab deleted the first, and with it qmgr's
// record of the dead destination), where mxrelay's scheduler keeps the
// destination suspended for queue.Config.DeadTime and defers the message
// without a connection. The session's lines are the same but for the
// status line, which must be Postfix's line for a suspended destination:
// relay=none, dsn=4.4.1, status=deferred (delivery temporarily
// suspended: REASON), REASON being what the first attempt logged.
func checkSuspended(t *testing.T, theirs, ours []logLine) {
	t.Helper()
	var pStatus, mStatus string
	var p, m []string
	for _, l := range normalize(theirs) {
		if strings.Contains(l, ", status=") {
			pStatus = l
			continue
		}
		p = append(p, l)
	}
	for _, l := range normalize(ours) {
		if strings.Contains(l, ", status=") {
			mStatus = l
			continue
		}
		m = append(m, l)
	}
	if !slices.Equal(sorted(p), sorted(m)) {
		t.Errorf("session suspended differs:\nPostfix:\n  %s\nmxrelayd:\n  %s", strings.Join(p, "\n  "), strings.Join(m, "\n  "))
	}
	_, reason, _ := strings.Cut(pStatus, "status=deferred (")
	want := "error Q1: to=<two@c.test>, relay=none, delay=D, delays=D/D/D/D, dsn=4.4.1, status=deferred (delivery temporarily suspended: " + reason
	if mStatus != want {
		t.Errorf("status line of a suspended destination:\ngot  %s\nwant %s", mStatus, want)
	}
}
