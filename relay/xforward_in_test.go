package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/maillog"
	"github.com/mxrelay/mxrelay/relay/maincf"
	"github.com/mxrelay/mxrelay/relay/smtpd"
)

// xforwardInLab is golden lab xfwdin (relay/testdata/lab-xforward-in):
// clients that send XFORWARD to Postfix 3.7.11 with
// smtpd_authorized_xforward_hosts, and Postfix's replies.
type xforwardInLab struct {
	MainCF map[string]string `json:"main_cf"`
	Maps   map[string]string `json:"maps"`
	DNS    labZone           `json:"dns"`
	Cases  []struct {
		ID         string    `json:"id"`
		Rcpt       []string  `json:"rcpt"`
		Mail       string    `json:"mail"`
		Client     string    `json:"client"`
		Message    string    `json:"message"`
		BeforeMail []string  `json:"before_mail"`
		QueueID    string    `json:"queue_id"`
		Inject     []labStep `json:"inject"`
	} `json:"cases"`
}

var (
	xfinLogLine = regexp.MustCompile(`postfix[-a-z]*/(smtpd|cleanup)\[[0-9]+\]: ([0-9A-F]+): ((client|message-id)=.*)$`)
	xfinAdded   = regexp.MustCompile(`^message-id=<[0-9]{14}\.([0-9A-F]+)@mx2\.oracle\.test>$`)
)

// xfinLines returns the client= and message-id= lines of a log by queue
// ID, "localhost" (Postfix reads /etc/hosts) replaced by "unknown"
// (mxrelay asks DNS only) and a Message-Id cleanup added for the message
// by "<added>".
func xfinLines(log string) map[string][]string {
	out := map[string][]string{}
	for _, l := range strings.Split(log, "\n") {
		if m := xfinLogLine.FindStringSubmatch(l); m != nil {
			line := strings.ReplaceAll(m[3], "localhost[127.0.0.1]", "unknown[127.0.0.1]")
			if a := xfinAdded.FindStringSubmatch(line); a != nil && a[1] == m[2] {
				line = "message-id=<added>"
			}
			out[m[2]] = append(out[m[2]], line)
		}
	}
	return out
}

// TestXForwardInLab replays golden lab xfwdin: each reply to XFORWARD
// (authorized, refused, malformed), the client= log line with Postfix's
// orig_queue_id= and orig_client=, cleanup's message-id= line (the
// Message-Id it added, or <>), whether cleanup added a Message-Id,
// which the forwarded SOURCE decides (REMOTE: no header is added for a
// client that would otherwise be local), the Received: header (the real
// client's), and the client the queue keeps (the forwarded one).
func TestXForwardInLab(t *testing.T) {
	var lab, recorded xforwardInLab
	for file, dst := range map[string]*xforwardInLab{"route": &lab, "golden": &recorded} {
		b, err := os.ReadFile("testdata/lab-xforward-in/" + file + "/xfwdin.json")
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	goldenLog, err := os.ReadFile("testdata/lab-xforward-in/golden/xfwdin.maillog")
	if err != nil {
		t.Fatal(err)
	}
	golden := xfinLines(string(goldenLog))
	d := startLabDNS(t, lab.DNS)
	text := labConfig(t, lab.MainCF, lab.Maps)
	cf, err := maincf.Parse(strings.NewReader(text), "main.cf")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var out bytes.Buffer
	q := queue.NewMemory()
	ld, err := Load(context.Background(), cf, LoadOptions{Queue: q, DNS: []string{d.Addr()},
		Logger: slog.New(maillog.NewHandler(lockedWriter{&mu, &out}, &maillog.Options{Hostname: "mx2.oracle.test"})),
		// inet_interfaces = 127.0.0.1, as in the lab: 127.0.0.1 is the
		// only local client of local_header_rewrite_clients.
		InterfaceAddrs: func() ([]netip.Prefix, error) { return []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ld.Close() })
	ld.Server.NoDelivery = true
	_, addr := serve(t, ld.Server)

	for i, c := range lab.Cases {
		if recorded.Cases[i].ID != c.ID {
			t.Fatalf("golden case %d is %s, route case %s", i, recorded.Cases[i].ID, c.ID)
		}
		c.Inject, c.QueueID = recorded.Cases[i].Inject, recorded.Cases[i].QueueID
		conn := labDialFromHello(t, addr, c.Client, "")
		steps := append(append([]string{}, c.BeforeMail...), "MAIL FROM:"+c.Mail)
		for _, r := range c.Rcpt {
			steps = append(steps, "RCPT TO:<"+r+">")
		}
		steps = append(steps, "DATA")
		var id string
		for i, cmd := range steps {
			g := c.Inject[i+1] // Inject[0] is the EHLO
			code, enh, text := conn.cmd(t, cmd)
			if cmd == "DATA" && code == 354 {
				msg := strings.ReplaceAll(strings.ReplaceAll(c.Message, "{case}", c.ID), "{rcpts}", strings.Join(c.Rcpt, ", "))
				code, enh, text = conn.cmd(t, strings.ReplaceAll(dotStuff(msg), "\n", "\r\n")+".")
				_, id, _ = strings.Cut(text, "queued as ")
				text, g.Text = "queued", "queued"
			}
			if code != g.Code || enh != g.Enh || text != g.Text {
				t.Errorf("%s: %.50s: %d %s %s\n Postfix: %d %s %s", c.ID, cmd, code, enh, text, g.Code, g.Enh, g.Text)
			}
		}
		conn.cmd(t, "QUIT")
		mu.Lock()
		got := xfinLines(out.String())[id]
		mu.Unlock()
		want := golden[c.QueueID]
		if strings.Join(got, "\n") != strings.Join(want, "\n") || len(want) != 2 {
			t.Errorf("%s: log lines\n %q\nPostfix's\n %q", c.ID, got, want)
			continue
		}
		rc, err := q.Body(context.Background(), queue.ID(id))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(rc)
		rc.Close()
		header, _, _ := strings.Cut(string(body), "\r\n\r\n")
		if added := strings.Contains(header, "\nMessage-Id: "); added != (want[1] == "message-id=<added>") {
			t.Errorf("%s: Message-Id added %v; Postfix's cleanup logged %s", c.ID, added, want[1])
		}
		if !strings.HasPrefix(header, "Received: from inject.oracle.test (") || !strings.Contains(header, "["+c.Client+"])") {
			t.Errorf("%s: the Received: header must name the real client, as Postfix's does:\n%.200s", c.ID, header)
		}
		if c.ID == "all" {
			env, err := q.Get(context.Background(), queue.ID(id))
			want := queue.Client{Name: "mail.example.com", Addr: "192.0.2.10", Port: "41234", Proto: "ESMTP", Helo: "helo.example.com", Source: "REMOTE", Ident: "ABC123"}
			if err != nil || env.Client != want {
				t.Errorf("all: queued client %+v (%v), want the forwarded %+v", env.Client, err, want)
			}
		}
	}
}

// TestXForwardedClientPassedOn: what XFORWARD forwarded is what the
// queue keeps and what a filter is told, never mixed with the real
// client (smtpd.h's FORWARD_* macros): the before-queue filter gets the
// forwarded address and IDENT, a later after-queue filter the forwarded
// IDENT.
func TestXForwardedClientPassedOn(t *testing.T) {
	s := &session{clientAddr: netip.MustParseAddr("127.0.0.1"), clientPort: 41000, helo: "amavis.local", esmtp: true,
		forward: &smtpd.Forwarded{Client: true, Name: "orig.example", Addr: netip.MustParseAddr("2001:db8::9"),
			Port: "25", Proto: "ESMTP", Helo: "h.example", Ident: "UP1", Source: "REMOTE"}}
	x := s.proxyClient()
	if x.Addr != "IPv6:2001:db8::9" || x.Name != "orig.example" || x.Ident != "UP1" || x.Helo != "h.example" {
		t.Errorf("before-queue filter told %+v", x)
	}
	env := &queue.Envelope{ID: "OURS", Client: s.queueClient()}
	if xf := xforward(env); xf == nil || xf.Ident != "UP1" || xf.Addr != "2001:db8::9" {
		t.Errorf("after-queue filter told %+v", xf)
	}
	env.Client.Ident = ""
	if xf := xforward(env); xf == nil || xf.Ident != "OURS" {
		t.Errorf("without a forwarded IDENT: %+v", xf)
	}
}
