package relay

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/maincf"
	"github.com/mxrelay/mxrelay/relay/milter"
	"github.com/mxrelay/mxrelay/relay/milter/miltertest"
)

// readJSON reads a golden or case file of relay/milter/testdata into v.
func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// labMainCF is the main.cf of a lab configuration: the lab's identity
// parameters (postfix-lab's BASE_MAIN) and the configuration's own, with
// smtpd_milters replaced by milters.
func labMainCF(mainCF map[string]string, milters string) string {
	cf := "compatibility_level = 3.6\nmyhostname = mx2.oracle.test\nmydomain = oracle.test\nmyorigin = $myhostname\n" +
		"mydestination =\ninet_interfaces = 127.0.0.1\ninet_protocols = ipv4\nmynetworks = 127.0.0.1/32\nalias_maps =\n"
	for k, v := range mainCF {
		if k == "smtpd_milters" {
			v = milters
		}
		cf += k + " = " + v + "\n"
	}
	return cf
}

// milterWorld is a relay whose sessions talk to one test milter.
func milterWorld(t *testing.T, m miltertest.Milter, action string) (*world, *queue.Memory, *miltertest.Server) {
	t.Helper()
	srv, err := miltertest.Start(m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	d := milter.Defaults{Macros: milter.DefaultMacros(), CommandTimeout: 2 * time.Second, ContentTimeout: 2 * time.Second}
	d.DefaultAction, _ = milter.ParseAction(action)
	specs, err := milter.ParseList("inet:"+srv.Addr, d)
	if err != nil {
		t.Fatal(err)
	}
	mem := queue.NewMemory()
	w := newWorld(t, worldOpts{mem: mem, noRun: true, cfg: func(c *Config) {
		c.Milters = &Milters{Specs: specs, Defaults: d, Version: "Postfix 3.7.11"}
	}})
	return w, mem, srv
}

func queued(t *testing.T, mem *queue.Memory) []queue.Envelope {
	t.Helper()
	var out []queue.Envelope
	mem.Walk(context.Background(), func(e *queue.Envelope) error { out = append(out, *e); return nil })
	return out
}

func body(t *testing.T, mem *queue.Memory, id queue.ID) string {
	t.Helper()
	rc, err := mem.Body(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return string(b)
}

// TestMilterModifies: a milter's header, body and envelope changes are
// in the queued message; the envelope changes go through cleanup as
// Postfix's do.
func TestMilterModifies(t *testing.T) {
	w, mem, srv := milterWorld(t, miltertest.Milter{On: func(e miltertest.Event) []miltertest.Packet {
		if e.Cmd != miltertest.EndOfMessage {
			return nil
		}
		return []miltertest.Packet{
			miltertest.InsertHeader(0, "X-Top", "first"),
			miltertest.AddHeader("Authentication-Results", "mx2.example.test;\n\tdkim=none"),
			miltertest.ChangeHeader(1, "Subject", "[checked] hello"),
			miltertest.ChangeFrom("<bounces@sender.example>", "RET=HDRS"),
			miltertest.AddRcptPar("<added@example.test>", "NOTIFY=NEVER"),
			miltertest.DelRcpt("<v@example.test>"),
			miltertest.ReplaceBody("replaced\r\n"),
		}
	}}, "tempfail")
	if err := w.send("s@sender.example", []string{"u@example.test", "v@example.test"}, "Subject: hello\r\n\r\noriginal\r\n"); err != nil {
		t.Fatal(err)
	}
	envs := queued(t, mem)
	if len(envs) != 1 {
		t.Fatalf("%d queued", len(envs))
	}
	env := envs[0]
	if env.Sender != "bounces@sender.example" || env.Ret != queue.RetHdrs {
		t.Errorf("sender %q ret %v", env.Sender, env.Ret)
	}
	var rcpts []string
	for _, rc := range env.Recipients {
		rcpts = append(rcpts, rc.Address)
		if rc.Address == "added@example.test" && rc.Notify != queue.NotifyNever {
			t.Errorf("added recipient notify %v", rc.Notify)
		}
	}
	if strings.Join(rcpts, " ") != "u@example.test added@example.test" {
		t.Errorf("recipients %v", rcpts)
	}
	b := body(t, mem, env.ID)
	if !strings.HasPrefix(b, "X-Top: first\r\nReceived: from ") ||
		!strings.Contains(b, "\r\nSubject: [checked] hello\r\nAuthentication-Results: mx2.example.test;\r\n\tdkim=none\r\n\r\nreplaced\r\n") {
		t.Errorf("queued message:\n%s", b)
	}
	// The milter did not see our Received: header; it got the macros.
	for _, e := range srv.Events() {
		if e.Cmd == miltertest.Header && strings.HasPrefix(string(e.Data), "Received") {
			t.Errorf("the milter saw %q", e.Data)
		}
		if e.Cmd == miltertest.Connect && (e.Macros["j"] != "mx2.example.test" || e.Macros["v"] != "Postfix 3.7.11" || e.Macros["{daemon_addr}"] != "127.0.0.1") {
			t.Errorf("connect macros %v", e.Macros)
		}
		if e.Cmd == miltertest.Rcpt && "<"+e.Macros["{rcpt_addr}"]+">" != e.Strings()[0] {
			t.Errorf("rcpt macros %v for %q", e.Macros, e.Data)
		}
		if e.Cmd == miltertest.EndOfMessage && e.Macros["i"] != string(env.ID) {
			t.Errorf("end of message macros %v, queue ID %s", e.Macros, env.ID)
		}
	}
}

// TestMilterRefusals: the milter's replies at each SMTP stage reach the
// client, and what it holds or discards is held or dropped.
func TestMilterRefusals(t *testing.T) {
	w, mem, _ := milterWorld(t, miltertest.Milter{On: func(e miltertest.Event) []miltertest.Packet {
		s := e.Strings()
		switch {
		case e.Cmd == miltertest.Mail && s[0] == "<spammer@sender.example>":
			return []miltertest.Packet{miltertest.ReplyCode("550 5.7.1 Go away")}
		case e.Cmd == miltertest.Rcpt && s[0] == "<bad@example.test>":
			return []miltertest.Packet{miltertest.Reject()}
		case e.Cmd == miltertest.Rcpt && s[0] == "<v@example.test>":
			return []miltertest.Packet{miltertest.Tempfail()}
		case e.Cmd == miltertest.Header && s[0] == "Subject" && s[1] == "virus":
			return []miltertest.Packet{miltertest.ReplyCode("554 5.7.1 Infected")}
		case e.Cmd == miltertest.Header && s[0] == "Subject" && s[1] == "drop":
			return []miltertest.Packet{miltertest.Discard()}
		}
		return nil
	}}, "tempfail")
	rs := w.raw()
	rs.cmd("EHLO client.example")
	if code, msg := rs.cmd("MAIL FROM:<spammer@sender.example>"); code != 550 || msg != "5.7.1 Go away" {
		t.Errorf("MAIL: %d %s", code, msg)
	}
	rs.cmd("MAIL FROM:<s@sender.example>")
	if code, msg := rs.cmd("RCPT TO:<bad@example.test>"); code != 550 || msg != "5.7.1 Command rejected" {
		t.Errorf("RCPT: %d %s", code, msg)
	}
	if code, msg := rs.cmd("RCPT TO:<v@example.test>"); code != 451 || msg != "4.7.1 Service unavailable - try again later" {
		t.Errorf("RCPT: %d %s", code, msg)
	}
	rs.cmd("RCPT TO:<u@example.test>")
	rs.cmd("DATA")
	if code, msg := rs.cmd("Subject: virus\r\n\r\nx\r\n."); code != 554 || msg != "5.7.1 Infected" {
		t.Errorf("end of data: %d %s", code, msg)
	}
	rs.cmd("MAIL FROM:<s@sender.example>")
	rs.cmd("RCPT TO:<u@example.test>")
	rs.cmd("DATA")
	if code, _ := rs.cmd("Subject: drop\r\n\r\nx\r\n."); code != 250 {
		t.Errorf("discarded: %d", code)
	}
	if n := len(queued(t, mem)); n != 0 {
		t.Errorf("%d queued", n)
	}
	for _, want := range []string{"milter-reject", "MAIL", "END-OF-MESSAGE", "milter-discard"} {
		if !strings.Contains(w.logs.String(), want) {
			t.Errorf("log has no %q:\n%s", want, w.logs.String())
		}
	}
}

// TestMilterDefaultAction: a milter that is not there, with
// milter_default_action = tempfail, refuses MAIL 451 (Postfix greets and
// answers EHLO 250); with reject, the greeting is 554; with accept, mail
// flows; with quarantine, it is held.
func TestMilterDefaultAction(t *testing.T) {
	for _, c := range []struct {
		action string
		code   int
		held   bool
	}{{"tempfail", 451, false}, {"reject", 550, false}, {"accept", 250, false}, {"quarantine", 250, true}} {
		t.Run(c.action, func(t *testing.T) {
			w, mem, srv := milterWorld(t, miltertest.Milter{}, c.action)
			srv.Close()
			if c.action == "reject" {
				// 5xx at connect: Postfix's smtpd greets so.
				conn, err := textproto.Dial("tcp", w.addr)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				if _, msg, err := conn.ReadResponse(220); err == nil || msg != "mx2.example.test ESMTP not accepting connections" {
					t.Errorf("greeting %q, %v", msg, err)
				}
				return
			}
			rs := w.raw()
			code, _ := rs.cmd("EHLO client.example")
			if code == 250 {
				code, _ = rs.cmd("MAIL FROM:<s@sender.example>")
			}
			if code != c.code && !(c.code == 250 && code == 250) {
				t.Errorf("EHLO or MAIL: %d, want %d", code, c.code)
			}
			if code != 250 {
				return
			}
			rs.cmd("RCPT TO:<u@example.test>")
			rs.cmd("DATA")
			if code, _ := rs.cmd("Subject: x\r\n\r\nx\r\n."); code != 250 {
				t.Errorf("end of data: %d", code)
			}
			envs := queued(t, mem)
			if len(envs) != 1 || envs[0].Held != c.held {
				t.Errorf("queued %+v, want held %v", envs, c.held)
			}
		})
	}
}

// TestLoadMilters: main.cf's smtpd_milters, with Postfix 3.0's
// per-milter settings, and the milter_* parameters reach the sessions;
// receive_override_options = no_milters and smtpd_milter_maps' DISABLE
// turn them off; a bad milter_default_action is refused.
func TestLoadMilters(t *testing.T) {
	srv, err := miltertest.Start(miltertest.Milter{On: func(e miltertest.Event) []miltertest.Packet {
		if e.Cmd == miltertest.Rcpt && e.Strings()[0] == "<user2@example.com>" {
			return []miltertest.Packet{miltertest.ReplyCode("550 5.7.1 <user2@example.com>: not here, says the milter")}
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	base := `compatibility_level = 3.6
myhostname = gw.example.com
mydestination =
relay_domains = example.com
relay_recipient_maps = inline:{ user1@example.com=x, user2@example.com=x }
inet_interfaces = 127.0.0.1
milter_command_timeout = 7s
milter_default_action = reject
`
	for _, c := range []struct {
		name, extra string
		refused     bool
	}{
		{"milter", "smtpd_milters = { inet:" + srv.Addr + ", default_action=accept, protocol=4 }\n", true},
		{"no_milters", "smtpd_milters = inet:" + srv.Addr + "\nreceive_override_options = no_milters\n", false},
		{"maps DISABLE", "smtpd_milters = inet:" + srv.Addr + "\nsmtpd_milter_maps = inline:{ 127.0.0.1=DISABLE }\n", false},
		{"maps list", "smtpd_milter_maps = inline:{ {127.0.0.1=inet:" + srv.Addr + "} }\n", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ld, addr := loadAndServe(t, base+c.extra, LoadOptions{})
			if m := ld.MX.c.Milters; c.name == "milter" && (len(m.Specs) != 1 || m.Specs[0].DefaultAction != milter.Accept ||
				m.Specs[0].Version != 4 || m.Specs[0].CommandTimeout != 7*time.Second) {
				t.Errorf("milters %+v", m)
			}
			rs := dialRaw(t, addr)
			rs.cmd("EHLO client.example")
			rs.cmd("MAIL FROM:<s@elsewhere.example>")
			code, msg := rs.cmd("RCPT TO:<user2@example.com>")
			if c.refused != (code == 550 && msg == "5.7.1 <user2@example.com>: not here, says the milter") {
				t.Errorf("RCPT: %d %s", code, msg)
			}
		})
	}
	cf, err := maincf.Parse(strings.NewReader(base+"smtpd_milters = inet:127.0.0.1:1\nmilter_default_action = bounce\n"), "main.cf")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load(t.Context(), cf, LoadOptions{Queue: queue.NewMemory(), DNS: []string{"127.0.0.1:1"}}); err == nil || !strings.Contains(err.Error(), "milter_default_action") {
		t.Errorf("milter_default_action = bounce: %v", err)
	}
}

// TestMilterRejectedRecipients: a milter that asks for them
// (SMFIP_RCPT_REJ) is told of recipients the restrictions refused, with
// Postfix's macros, and its reply changes nothing.
func TestMilterRejectedRecipients(t *testing.T) {
	w, _, srv := milterWorld(t, miltertest.Milter{Protocol: 1 << 11, On: func(e miltertest.Event) []miltertest.Packet {
		if e.Cmd == miltertest.Rcpt && e.Macros["{rcpt_mailer}"] == "error" {
			return []miltertest.Packet{miltertest.Reject()}
		}
		return nil
	}}, "tempfail")
	rs := w.raw()
	rs.cmd("EHLO client.example")
	rs.cmd("MAIL FROM:<s@sender.example>")
	if code, _ := rs.cmd("RCPT TO:<nosuch@example.test>"); code != 550 {
		t.Errorf("unknown recipient: %d", code)
	}
	if code, _ := rs.cmd("RCPT TO:<u@example.test>"); code != 250 {
		t.Errorf("known recipient: %d", code)
	}
	var got []string
	for _, e := range srv.Events() {
		if e.Cmd == miltertest.Rcpt {
			got = append(got, e.Strings()[0]+" "+e.Macros["{rcpt_mailer}"]+" "+e.Macros["{rcpt_host}"]+" "+e.Macros["{rcpt_addr}"])
		}
	}
	want := []string{
		"<nosuch@example.test> error 5.1.1 Recipient address rejected: User unknown in relay recipient table",
		"<u@example.test> smtp example.test u@example.test",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("RCPT events:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestMilterGoSMTP: mounted in a go-smtp server of the user's own, the
// relay talks to the milters too: connect and HELO when go-smtp opens the
// session, then the transaction.
func TestMilterGoSMTP(t *testing.T) {
	w, mem, srv := milterWorld(t, miltertest.Milter{On: func(e miltertest.Event) []miltertest.Packet {
		switch {
		case e.Cmd == miltertest.Rcpt && e.Strings()[0] == "<v@example.test>":
			return []miltertest.Packet{miltertest.Reject()}
		case e.Cmd == miltertest.EndOfMessage:
			return []miltertest.Packet{miltertest.AddHeader("X-Milter", "go-smtp")}
		}
		return nil
	}}, "tempfail")
	_, addr := mountElsewhere(t, w)
	if _, err := goSMTPRefusedThenAccepted(t, addr); err != nil {
		t.Fatal(err)
	}
	envs := queued(t, mem)
	if len(envs) != 1 || !strings.Contains(body(t, mem, envs[0].ID), "\r\nX-Milter: go-smtp\r\n") {
		t.Errorf("queued %+v", envs)
	}
	var cmds string
	for _, e := range srv.Events() {
		cmds += string(e.Cmd)
	}
	if !strings.HasPrefix(cmds, "CHMRRTL") {
		t.Errorf("events %q", cmds)
	}
}

// TestMilterCutSession: a session cut by CloseSessions while a milter
// holds the message stores nothing, even when the milter answers later.
func TestMilterCutSession(t *testing.T) {
	atEOM, release := make(chan struct{}), make(chan struct{})
	w, mem, _ := milterWorld(t, miltertest.Milter{On: func(e miltertest.Event) []miltertest.Packet {
		if e.Cmd == miltertest.EndOfMessage {
			close(atEOM)
			<-release
		}
		return nil
	}}, "accept")
	_, addr := mountElsewhere(t, w)
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.example"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- transact(c, "s@sender.example", []string{"u@example.test"}, "Subject: x\r\n\r\nbody\r\n")
	}()
	<-atEOM
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.relay.CloseSessions(ctx); err == nil {
		t.Error("CloseSessions: nil, want the context's error")
	}
	if err := <-done; err == nil {
		t.Error("the cut session's message was answered 250")
	}
	close(release)
	w.relay.CloseSessions(context.Background()) // the session has ended
	if n := mem.Len(); n != 0 {
		t.Errorf("%d messages stored after the cut", n)
	}
}

// TestMilterRejectsConnect: a milter that rejects CONNECT gets smtpd.c's
// answer: the greeting "554 HOSTNAME ESMTP not accepting connections",
// EHLO answered 250 (helo_cmd's Sendmail compatibility), then MAIL
// refused with the milter's reply for as long as the session lasts
// (milter8.c's MILTER8_STAT_REJECT_CON), and QUIT.
func TestMilterRejectsConnect(t *testing.T) {
	w, mem, _ := milterWorld(t, miltertest.Milter{On: func(e miltertest.Event) []miltertest.Packet {
		if e.Cmd == miltertest.Connect {
			return []miltertest.Packet{miltertest.Reject()}
		}
		return nil
	}}, "tempfail")
	conn, err := textproto.Dial("tcp", w.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, step := range []struct {
		cmd  string
		code int
		msg  string
	}{
		{"", 554, "mx2.example.test ESMTP not accepting connections"},
		{"EHLO client.example", 250, ""},
		{"MAIL FROM:<s@sender.example>", 550, "5.7.1 Command rejected"},
		{"MAIL FROM:<t@sender.example>", 550, "5.7.1 Command rejected"},
		{"RCPT TO:<u@example.test>", 503, "5.5.1 Error: need MAIL command"},
		{"QUIT", 221, "2.0.0 Bye"},
	} {
		if step.cmd != "" {
			conn.PrintfLine("%s", step.cmd)
		}
		code, msg, _ := conn.ReadResponse(0)
		if code != step.code || step.msg != "" && msg != step.msg {
			t.Errorf("%q: %d %q, want %d %q", step.cmd, code, msg, step.code, step.msg)
		}
	}
	if mem.Len() != 0 {
		t.Errorf("%d messages queued", mem.Len())
	}
}

// TestMilterUnknownCommand: a command the engine does not know goes to
// the milters (SMFIC_UNKNOWN, its first word), whose refusal is the reply
// instead of "500 5.5.2 Error: command not recognized", as Postfix's
// smtpd sends it; a milter that lets it pass leaves the 500.
func TestMilterUnknownCommand(t *testing.T) {
	w, _, srv := milterWorld(t, miltertest.Milter{On: func(e miltertest.Event) []miltertest.Packet {
		if e.Cmd == miltertest.Unknown && strings.HasPrefix(string(e.Data), "XSECRET") {
			return []miltertest.Packet{{Code: 'y', Data: []byte("554 5.7.1 Go away\x00")}}
		}
		return nil
	}}, "tempfail")
	rs := w.raw()
	rs.cmd("EHLO client.example")
	if code, msg := rs.cmd("XSECRET knock knock"); code != 554 || msg != "5.7.1 Go away" {
		t.Errorf("XSECRET: %d %q", code, msg)
	}
	if code, msg := rs.cmd("XOTHER"); code != 500 || msg != "5.5.2 Error: command not recognized" {
		t.Errorf("XOTHER: %d %q", code, msg)
	}
	var got []string
	for _, e := range srv.Events() {
		if e.Cmd == miltertest.Unknown {
			got = append(got, string(e.Data))
		}
	}
	if strings.Join(got, "|") != "XSECRET\x00|XOTHER\x00" {
		t.Errorf("the milter heard %q", got)
	}
}

// TestMilterDeadGolden: with a milter where nothing listens, the relay
// answers as Postfix 3.7.11 does with each milter_default_action
// (relay/milter/testdata/lab/golden/milterdead_*.json, the lab's rcpt
// mode): the greeting, HELO answered 250 (Sendmail compatibility), then
// MAIL refused with the default action's reply or accepted. With reject,
// the greeting is 554 and the session goes on, MAIL refused with the
// default action's reply.
func TestMilterDeadGolden(t *testing.T) {
	for _, action := range []string{"accept", "reject", "tempfail", "quarantine"} {
		t.Run(action, func(t *testing.T) {
			var g struct {
				MainCF map[string]string `json:"main_cf"`
				Cases  []struct {
					Client   string
					Greeting struct {
						Code int
						Text string
					}
					Steps []struct {
						Cmd  string
						Code int
						Enh  string
						Text string
					}
				}
			}
			readJSON(t, "milter/testdata/lab/golden/milterdead_"+action+".json", &g)
			cf := labMainCF(g.MainCF, "unix:"+filepath.Join(t.TempDir(), "nothing-listens.sock"))
			_, addr := loadAndServe(t, cf, LoadOptions{})
			c := g.Cases[0]
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(c.Client)}}
			conn, err := d.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(30 * time.Second))
			tp := textproto.NewConn(conn)
			code, msg, _ := tp.ReadResponse(0)
			if code != c.Greeting.Code || (code != 220 && msg != c.Greeting.Text) {
				t.Errorf("greeting %d %q, want %d %q", code, msg, c.Greeting.Code, c.Greeting.Text)
			}
			for _, st := range c.Steps {
				want := strings.TrimSpace(st.Enh + " " + st.Text)
				tp.PrintfLine("%s", st.Cmd)
				code, msg, _ := tp.ReadResponse(0)
				if code != st.Code || msg != want {
					t.Errorf("%s: %d %q, want %d %q (Postfix)", st.Cmd, code, msg, st.Code, want)
				}
			}
		})
	}
}

// TestMilterEditsGolden: the modifications of a scripted milter
// (relay/milter/testdata/lab/edits.json: inserts above and below our
// Received: field, a change of the upstream Received: field and of a
// repeated field's second instance, a deletion, a change of a missing
// field, added fields, recipients deleted and added, a new sender, a
// new body) give the envelope and message Postfix 3.7.11 delivered with
// the same milter (golden/edits.json, recorded by record.sh): only our
// own Received: field differs.
func TestMilterEditsGolden(t *testing.T) {
	var script miltertest.Script
	readJSON(t, "milter/testdata/lab/edits.json", &script)
	srv, err := miltertest.Start(miltertest.Milter{On: script.On})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var g struct {
		MainCF map[string]string `json:"main_cf"`
		Cases  []struct {
			ID         string
			Inject     []struct{ Cmd string }
			Deliveries []struct {
				MailFrom string `json:"mail_from"`
				Rcpt     []string
				Headers  []string
				Body     []string
			}
		}
	}
	readJSON(t, "milter/testdata/lab/golden/edits.json", &g)
	var cases struct {
		Cases []struct{ ID, Client, Message string }
	}
	readJSON(t, "milter/testdata/lab/route/edits.json", &cases)
	mem := queue.NewMemory()
	_, addr := loadAndServe(t, labMainCF(g.MainCF, "inet:"+srv.Addr), LoadOptions{Queue: mem})
	c, want := cases.Cases[0], g.Cases[0]
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(c.Client)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	sc := smtp.NewClient(conn)
	defer sc.Close()
	if err := sc.Hello("inject.oracle.test"); err != nil {
		t.Fatal(err)
	}
	var rcpts []string
	for _, in := range want.Inject {
		if r, ok := strings.CutPrefix(in.Cmd, "RCPT TO:<"); ok {
			rcpts = append(rcpts, strings.TrimSuffix(r, ">"))
		}
	}
	msg := strings.ReplaceAll(strings.ReplaceAll(c.Message, "{case}", c.ID), "\n", "\r\n")
	if err := transact(sc, "", rcpts, msg); err != nil {
		t.Fatal(err)
	}
	envs := queued(t, mem)
	if len(envs) != 1 {
		t.Fatalf("%d queued", len(envs))
	}
	env, del := envs[0], want.Deliveries[0]
	var got []string
	for _, rc := range env.Recipients {
		got = append(got, rc.Address)
	}
	if env.Sender != del.MailFrom || strings.Join(got, " ") != strings.Join(del.Rcpt, " ") {
		t.Errorf("envelope %s -> %v, want %s -> %v (Postfix)", env.Sender, got, del.MailFrom, del.Rcpt)
	}
	hdr, body, _ := strings.Cut(body(t, mem, env.ID), "\r\n\r\n")
	fields := splitFields(strings.ReplaceAll(hdr, "\r\n", "\n"))
	if norm(fields) != norm(del.Headers) {
		t.Errorf("header fields\n%s\nwant (Postfix 3.7)\n%s", strings.Join(fields, "\n"), strings.Join(del.Headers, "\n"))
	}
	if b := strings.Split(strings.TrimSuffix(body, "\r\n"), "\r\n"); strings.Join(b, "\n") != strings.Join(del.Body, "\n") {
		t.Errorf("body %q, want %q", b, del.Body)
	}
}
