package relay

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/maillog"
	"github.com/mxrelay/mxrelay/relay/smtpd"
	"github.com/mxrelay/mxrelay/transport/dnstest"
)

// TestDeliveryChecksLab: smtp_header_checks and smtp_body_checks edit
// each message as it is delivered, as Postfix 3.7.11's smtp(8) did in
// the postfix-lab (cleanup/testdata/lab/delivery/smtphbc.json: the
// header fields and body each sink received; smtphbc.maillog: smtp's
// action and warning lines, queue IDs as QUEUEID): IGNORE and STRIP
// remove, REPLACE and PREPEND edit, WARN and INFO only log, and the
// actions that would change the delivery are logged as unsupported and
// change nothing.
func TestDeliveryChecksLab(t *testing.T) {
	lab, cf := readCleanupLab(t, "cleanup/testdata/lab/delivery/smtphbc.json")
	sent := labMessages(t, lab.Config)
	d, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got := make(chan []byte, len(lab.Cases))
	sink := recordingSink(t, got)
	var mu sync.Mutex
	var logged bytes.Buffer
	logger := slog.New(maillog.NewHandler(lockedWriter{&mu, &logged}, &maillog.Options{Hostname: "mx2.oracle.test"}))
	ld, err := Load(context.Background(), cf, LoadOptions{Queue: queue.NewMemory(), DNS: []string{d.Addr()}, Logger: logger,
		Dialer:         redirect("127.0.0.5:25", sink),
		InterfaceAddrs: func() ([]netip.Prefix, error) { return []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer ld.Close()
	_, addr := serve(t, ld.Server)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go ld.MX.Run(ctx)
	var ours []string
	actionLine := regexp.MustCompile(`postfix/(?:smtp|mxrelayd)\[[0-9]+\]: (.*)$`)
	queueID := regexp.MustCompile(`^[0-9A-F]+: `)
	for _, c := range lab.Cases {
		in := sent[c.ID]
		conn := labDialFrom(t, addr, in.client)
		conn.cmd(t, "MAIL FROM:<someone@sender.test>")
		conn.cmd(t, "RCPT TO:<a@dest.test>")
		conn.cmd(t, "DATA")
		if code, _, text := conn.cmd(t, strings.ReplaceAll(in.text, "{rcpts}", "a@dest.test")+"\r\n."); code != 250 {
			t.Fatalf("%s: %d %s", c.ID, code, text)
		}
		conn.cmd(t, "QUIT")
		msg := <-got // one at a time: the log lines are in case order
		fields, body := splitMessage(msg)
		want := c.Deliveries[0]
		if g, w := labHeaders(fields, in.headers), labHeaders(want.Headers, in.headers); !slices.Equal(g, w) {
			t.Errorf("%s: headers at the next hop\n got  %q\n want %q (Postfix)", c.ID, g, w)
		}
		if w := strings.Join(want.Body, "\n"); body != w {
			t.Errorf("%s: body at the next hop\n got  %q\n want %q (Postfix)", c.ID, body, w)
		}
	}
	mu.Lock()
	for _, l := range strings.Split(logged.String(), "\n") {
		m := actionLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		line := queueID.ReplaceAllString(m[1], "QUEUEID: ")
		if strings.HasPrefix(line, "warning: unsupported command") || regexp.MustCompile(`^QUEUEID: (replace|prepend|warning|info|strip): `).MatchString(line) {
			ours = append(ours, line)
		}
	}
	mu.Unlock()
	theirs, err := os.ReadFile("cleanup/testdata/lab/delivery/smtphbc.maillog")
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Split(strings.TrimSpace(string(theirs)), "\n"); !slices.Equal(ours, w) {
		t.Errorf("log lines\n got  %q\n want %q (Postfix)", ours, w)
	}
}

// splitMessage splits a message as the lab's sinks record it: header
// fields (folded lines joined by "\n") and the body (lines joined by
// "\n", without the last line end).
func splitMessage(msg []byte) ([]string, string) {
	lines := strings.Split(strings.TrimSuffix(string(msg), "\r\n"), "\r\n")
	var fields []string
	for i, l := range lines {
		if l == "" {
			return fields, strings.Join(lines[i+1:], "\n")
		}
		if (l[0] == ' ' || l[0] == '\t') && len(fields) > 0 {
			fields[len(fields)-1] += "\n" + l
			continue
		}
		fields = append(fields, l)
	}
	return fields, ""
}

// recordingSink is a next hop that accepts everything and sends each
// message's text to got.
func recordingSink(t *testing.T, got chan<- []byte) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := smtpd.NewServer(smtpd.BackendFunc(func(ctx context.Context, c *smtpd.Client) (smtpd.Session, *smtpd.Reply) {
		return recordingSession{got}, nil
	}), smtpd.Config{Hostname: "sink5.test"})
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

type recordingSession struct{ got chan<- []byte }

func (recordingSession) Hello(context.Context, *smtpd.Client) *smtpd.Reply           { return nil }
func (recordingSession) Mail(context.Context, string, smtpd.MailParams) *smtpd.Reply { return nil }
func (recordingSession) Rcpt(context.Context, string, smtpd.RcptParams) *smtpd.Reply { return nil }
func (recordingSession) Data(context.Context) *smtpd.Reply                           { return nil }
func (s recordingSession) Message(_ context.Context, r io.Reader) *smtpd.Reply {
	b, err := io.ReadAll(r)
	if err != nil {
		return &smtpd.Reply{Code: 451, Enhanced: "4.3.0", Text: "read error"}
	}
	s.got <- b
	return nil
}
func (recordingSession) Reset(context.Context) {}
func (recordingSession) Close()                {}
