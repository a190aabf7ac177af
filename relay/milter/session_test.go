package milter_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/relay/milter"
	"github.com/mxrelay/mxrelay/relay/milter/miltertest"
)

func start(t *testing.T, m miltertest.Milter) *miltertest.Server {
	t.Helper()
	srv, err := miltertest.Start(m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func spec(t *testing.T, addr, extra string) milter.Spec {
	t.Helper()
	d := milter.Defaults{Macros: milter.DefaultMacros(), CommandTimeout: 2 * time.Second, ContentTimeout: 2 * time.Second, ConnectTimeout: 2 * time.Second}
	v := "inet:" + addr
	if extra != "" {
		v = "{ " + v + ", " + extra + " }"
	}
	specs, err := milter.ParseList(v, d)
	if err != nil {
		t.Fatal(err)
	}
	return specs[0]
}

var macros = map[string]string{"j": "mx.example", "{daemon_name}": "mx.example", "{client_addr}": "192.0.2.1", "i": "QID1", "{rcpt_addr}": "rcpt@example.com", "{mail_addr}": "from@example.org", "v": "Postfix 3.7.11"}

func mf(name string) (string, bool) { v, ok := macros[name]; return v, ok }

const testMsg = "Received: from client (client [192.0.2.1])\r\n\tby mx.example (mxrelay) with ESMTP id QID1\r\n" +
	"From: a@example.org\r\nTo: b@example.com\r\nSubject: hi\r\nX-Dup: 1\r\nX-Dup: 2\r\n\r\nline one\r\nline two\r\n"

// session runs a whole transaction and returns the message decision.
func session(t *testing.T, s milter.Spec) (*milter.Session, []milter.Reply, *milter.Message, []milter.EnvelopeEdit) {
	t.Helper()
	ctx := context.Background()
	ms := milter.NewSession([]milter.Spec{s}, milter.Options{})
	t.Cleanup(ms.Close)
	var rs []milter.Reply
	rs = append(rs, ms.Connect(ctx, "client.example", netip.MustParseAddr("192.0.2.1"), 4567, mf))
	rs = append(rs, ms.Helo(ctx, "client.example", mf))
	rs = append(rs, ms.Mail(ctx, []string{"<from@example.org>", "SIZE=100"}, mf))
	rs = append(rs, ms.Rcpt(ctx, []string{"<b@example.com>"}, mf))
	rs = append(rs, ms.Data(ctx, mf))
	msg := milter.ParseMessage([]byte(testMsg), 0)
	r, edits := ms.Message(ctx, msg, mf)
	rs = append(rs, r)
	return ms, rs, msg, edits
}

func TestEveryModification(t *testing.T) {
	srv := start(t, miltertest.Milter{On: func(e miltertest.Event) []miltertest.Packet {
		if e.Cmd != miltertest.EndOfMessage {
			return nil
		}
		return []miltertest.Packet{
			miltertest.AddHeader("X-Added", "one\n\ttwo"),
			miltertest.ChangeHeader(2, "X-Dup", "changed"),
			miltertest.ChangeHeader(1, "Subject", ""),
			miltertest.ChangeHeader(1, "X-New", "was missing"),
			miltertest.ChangeHeader(1, "Received", "not ours"),
			miltertest.InsertHeader(0, "X-Top", "top"),
			miltertest.InsertHeader(2, "X-Second", "after ours"),
			miltertest.AddRcpt("<new@example.net>"),
			miltertest.AddRcptPar("<par@example.net>", "NOTIFY=NEVER"),
			miltertest.DelRcpt("<b@example.com>"),
			miltertest.ChangeFrom("<bounce@example.org>", "RET=HDRS"),
			miltertest.ReplaceBody("new body\r\nsecond"),
			miltertest.ReplaceBody(" line\n"),
			miltertest.Quarantine("looks odd"),
			miltertest.Continue(),
		}
	}})
	_, rs, msg, edits := session(t, spec(t, srv.Addr, ""))
	for i, r := range rs[:5] {
		if r.Kind != milter.Continue {
			t.Errorf("event %d: %v", i, r)
		}
	}
	if r := rs[5]; r.Kind != milter.Hold || r.Reason != "looks odd" {
		t.Errorf("end of message: %+v, want hold", r)
	}
	want := "X-Top: top\r\n" +
		"Received: from client (client [192.0.2.1])\r\n\tby mx.example (mxrelay) with ESMTP id QID1\r\n" +
		"X-Second: after ours\r\n" +
		"From: a@example.org\r\nTo: b@example.com\r\nX-Dup: 1\r\nX-Dup: changed\r\n" +
		"X-Added: one\r\n\ttwo\r\nX-New: was missing\r\nReceived: not ours\r\n\r\n" +
		"new body\r\nsecond line\r\n"
	if got := string(msg.Bytes()); got != want {
		t.Errorf("message:\n%s\nwant:\n%s", got, want)
	}
	wantEdits := []milter.EnvelopeEdit{
		{Kind: milter.AddRecipient, Address: "<new@example.net>"},
		{Kind: milter.AddRecipient, Address: "<par@example.net>", Args: "NOTIFY=NEVER"},
		{Kind: milter.DeleteRecipient, Address: "<b@example.com>"},
		{Kind: milter.ChangeSender, Address: "<bounce@example.org>", Args: "RET=HDRS"},
	}
	if len(edits) != len(wantEdits) {
		t.Fatalf("edits %+v", edits)
	}
	for i, e := range edits {
		e.Milter = ""
		if e != wantEdits[i] {
			t.Errorf("edit %d: %+v, want %+v", i, e, wantEdits[i])
		}
	}
}

// TestWhatTheMilterSees: the events, their data and macros, as Postfix
// sends them; the MTA's own Received: header is not shown.
func TestWhatTheMilterSees(t *testing.T) {
	srv := start(t, miltertest.Milter{})
	session(t, spec(t, srv.Addr, ""))
	var got []string
	for _, e := range srv.Events() {
		switch e.Cmd {
		case miltertest.Connect:
			if !strings.HasPrefix(string(e.Data), "client.example\x004\x11\xd7192.0.2.1\x00") {
				t.Errorf("connect data %q", e.Data)
			}
			if e.Macros["j"] != "mx.example" || e.Macros["v"] != "Postfix 3.7.11" {
				t.Errorf("connect macros %v", e.Macros)
			}
		case miltertest.Mail:
			if e.Macros["i"] != "QID1" || e.Macros["{mail_addr}"] != "from@example.org" {
				t.Errorf("mail macros %v", e.Macros)
			}
		case miltertest.Rcpt:
			if e.Macros["{rcpt_addr}"] != "rcpt@example.com" {
				t.Errorf("rcpt macros %v", e.Macros)
			}
		}
		got = append(got, string(e.Cmd)+" "+strings.Join(e.Strings(), "|"))
	}
	want := []string{
		"C client.example|4\x11\xd7192.0.2.1",
		"H client.example",
		"M <from@example.org>|SIZE=100",
		"R <b@example.com>",
		"T ",
		"L From|a@example.org", "L To|b@example.com", "L Subject|hi", "L X-Dup|1", "L X-Dup|2",
		"N ",
		"B line one\r\nline two\r\n",
		"E ",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%q\nwant\n%q", got, want)
	}
}

// TestDecisions: reject, tempfail, a reply code and discard at each
// stage, worded as Postfix's milter8.c.
func TestDecisions(t *testing.T) {
	stages := []byte{miltertest.Connect, miltertest.Helo, miltertest.Mail, miltertest.Rcpt, miltertest.Data, miltertest.Header, miltertest.EndOfHeader, miltertest.Body, miltertest.EndOfMessage}
	for _, stage := range stages {
		for _, c := range []struct {
			name string
			p    miltertest.Packet
			want string
		}{
			{"reject", miltertest.Reject(), "550 5.7.1 Command rejected"},
			{"tempfail", miltertest.Tempfail(), "451 4.7.1 Service unavailable - try again later"},
			{"replycode", miltertest.ReplyCode("554 5.7.0 100%% spam"), "554 5.7.0 100% spam"},
			{"multiline", miltertest.ReplyCode("550-5.7.1 no\r\n550 5.7.1 really"), "550 5.7.1 no\r\n550 5.7.1 really"},
			{"discard", miltertest.Discard(), "discard"},
		} {
			t.Run(string(stage)+"/"+c.name, func(t *testing.T) {
				srv := start(t, miltertest.Milter{On: func(e miltertest.Event) []miltertest.Packet {
					if e.Cmd == stage {
						return []miltertest.Packet{c.p}
					}
					return nil
				}})
				_, rs, _, _ := session(t, spec(t, srv.Addr, ""))
				idx := map[byte]int{miltertest.Connect: 0, miltertest.Helo: 1, miltertest.Mail: 2, miltertest.Rcpt: 3, miltertest.Data: 4}
				i, ok := idx[stage]
				if !ok {
					i = 5
				}
				want := c.want
				if c.name == "discard" && (stage == miltertest.Connect || stage == miltertest.Helo) {
					want = "continue" // not allowed there: ignored, as Postfix
				}
				if got := rs[i].String(); got != want {
					t.Errorf("reply %q, want %q", got, want)
				}
				// A refusal at connect or HELO stands for the session.
				if (stage == miltertest.Connect || stage == miltertest.Helo) && c.name != "discard" {
					for _, r := range rs[i+1:] {
						if r.String() != want {
							t.Errorf("later reply %q, want %q", r.String(), want)
						}
					}
				}
			})
		}
	}
}

// TestFailures: a dead, slow or garbling milter, with each
// default_action.
func TestFailures(t *testing.T) {
	want := map[string]string{
		"accept":     "continue",
		"reject":     "550 5.5.0 Service unavailable",
		"tempfail":   "451 4.7.1 Service unavailable - try again later",
		"quarantine": "hold: default_action",
	}
	dead := start(t, miltertest.Milter{})
	deadAddr := dead.Addr
	dead.Close()
	for _, mode := range []string{"dead", "refuses", "slow", "garbage", "badlength", "badreply", "unexpected"} {
		for action, w := range want {
			t.Run(mode+"/"+action, func(t *testing.T) {
				m := miltertest.Milter{}
				stage := byte(miltertest.Mail)
				addr := ""
				switch mode {
				case "dead":
					addr = deadAddr
				case "refuses":
					m.NoNegotiate = true
				case "slow":
					m.On = func(e miltertest.Event) []miltertest.Packet {
						if e.Cmd == stage {
							time.Sleep(300 * time.Millisecond)
						}
						return nil
					}
				case "garbage":
					m.On = func(e miltertest.Event) []miltertest.Packet {
						if e.Cmd == stage {
							return []miltertest.Packet{miltertest.Garbage("\x00\x00\x00\x02zz")}
						}
						return nil
					}
				case "badlength":
					m.On = func(e miltertest.Event) []miltertest.Packet {
						if e.Cmd == stage {
							return []miltertest.Packet{miltertest.Garbage("\xff\xff\xff\xffc")}
						}
						return nil
					}
				case "badreply":
					m.On = func(e miltertest.Event) []miltertest.Packet {
						if e.Cmd == stage {
							return []miltertest.Packet{miltertest.ReplyCode("250 ok")}
						}
						return nil
					}
				case "unexpected":
					m.On = func(e miltertest.Event) []miltertest.Packet {
						if e.Cmd == stage {
							return []miltertest.Packet{miltertest.AddHeader("X-Too", "early")}
						}
						return nil
					}
				}
				if addr == "" {
					addr = start(t, m).Addr
				}
				s := spec(t, addr, "default_action="+action)
				s.CommandTimeout = 100 * time.Millisecond // Postfix's times are whole seconds
				_, rs, msg, _ := session(t, s)
				first := 2 // MAIL
				if mode == "dead" || mode == "refuses" {
					first = 0
				}
				w := w
				if mode == "badreply" && (action == "reject" || action == "tempfail") {
					w = "451 4.3.5 Server configuration problem - try again later"
				}
				for i, r := range rs[first:] {
					if r.String() != w {
						t.Errorf("event %d: %q, want %q", first+i, r.String(), w)
					}
				}
				if string(msg.Bytes()) != testMsg {
					t.Errorf("message changed: %q", msg.Bytes())
				}
			})
		}
	}
}

// TestProgressAndNoReply: SMFIR_PROGRESS renews the timeout; a milter
// that does not reply to headers (no_header_reply) is not waited for.
func TestProgressAndNoReply(t *testing.T) {
	srv := start(t, miltertest.Milter{Protocol: 1<<7 | 1<<20, On: func(e miltertest.Event) []miltertest.Packet {
		switch e.Cmd {
		case miltertest.Header:
			if string(e.Data) == "Subject\x00 hi\x00" {
				return []miltertest.Packet{miltertest.Reject()} // not read: no reply
			}
		case miltertest.EndOfMessage:
			return []miltertest.Packet{miltertest.Progress(), miltertest.Progress(), miltertest.AddHeader("X-Lead", " spaced"), miltertest.Accept()}
		}
		return nil
	}})
	_, rs, msg, _ := session(t, spec(t, srv.Addr, ""))
	if rs[5].Kind != milter.Continue {
		t.Errorf("end of message: %v", rs[5])
	}
	if !strings.Contains(string(msg.Bytes()), "\r\nX-Lead: spaced\r\n") {
		t.Errorf("message %q", msg.Bytes())
	}
}

// TestSkipAndOlderVersion: SMFIR_SKIP ends the body chunks; a version 2
// milter gets no DATA event.
func TestSkipAndOlderVersion(t *testing.T) {
	srv := start(t, miltertest.Milter{Version: 2, On: func(e miltertest.Event) []miltertest.Packet {
		if e.Cmd == miltertest.Body {
			return []miltertest.Packet{{Code: 's'}}
		}
		return nil
	}})
	s := spec(t, srv.Addr, "protocol=2")
	ctx := context.Background()
	ms := milter.NewSession([]milter.Spec{s}, milter.Options{})
	defer ms.Close()
	ms.Connect(ctx, "", netip.MustParseAddr("2001:db8::1"), 25, mf)
	ms.Mail(ctx, []string{"<>"}, mf)
	ms.Rcpt(ctx, []string{"<b@example.com>"}, mf)
	ms.Data(ctx, mf)
	body := strings.Repeat("x", 70000) + "\r\n"
	r, _ := ms.Message(ctx, milter.ParseMessage([]byte("Subject: big\r\n\r\n"+body), -1), mf)
	if r.Kind != milter.Continue {
		t.Errorf("reply %v", r)
	}
	var cmds string
	for _, e := range srv.Events() {
		cmds += string(e.Cmd)
		if e.Cmd == miltertest.Connect && !strings.HasPrefix(string(e.Data), "[2001:db8::1]\x006\x00\x19") {
			t.Errorf("connect %q", e.Data)
		}
	}
	if cmds != "CMRLNBE" {
		t.Errorf("events %q, want CMRLNBE", cmds)
	}
}

// TestChain: the second milter sees the first one's header changes; a
// refusal by the first spares the second.
func TestChain(t *testing.T) {
	first := start(t, miltertest.Milter{On: func(e miltertest.Event) []miltertest.Packet {
		if e.Cmd == miltertest.EndOfMessage {
			return []miltertest.Packet{miltertest.AddHeader("X-First", "1"), miltertest.Continue()}
		}
		if e.Cmd == miltertest.Rcpt && strings.Contains(string(e.Data), "bad") {
			return []miltertest.Packet{miltertest.Reject()}
		}
		return nil
	}})
	var sawFirst bool
	second := start(t, miltertest.Milter{On: func(e miltertest.Event) []miltertest.Packet {
		if e.Cmd == miltertest.Header && strings.HasPrefix(string(e.Data), "X-First\x00") {
			sawFirst = true
		}
		return nil
	}})
	ctx := context.Background()
	ms := milter.NewSession([]milter.Spec{spec(t, first.Addr, ""), spec(t, second.Addr, "")}, milter.Options{})
	defer ms.Close()
	ms.Connect(ctx, "c", netip.MustParseAddr("192.0.2.1"), 1, nil)
	ms.Mail(ctx, []string{"<>"}, nil)
	if r := ms.Rcpt(ctx, []string{"<bad@example.com>"}, nil); r.Kind != milter.Refuse {
		t.Errorf("rcpt %v", r)
	}
	ms.Rcpt(ctx, []string{"<good@example.com>"}, nil)
	ms.Data(ctx, nil)
	ms.Message(ctx, milter.ParseMessage([]byte("Subject: x\r\n\r\nbody\r\n"), -1), nil)
	if !sawFirst {
		t.Error("the second milter did not see the first one's header")
	}
	for _, e := range second.Events() {
		if e.Cmd == miltertest.Rcpt && strings.Contains(string(e.Data), "bad") {
			t.Error("the second milter saw the refused recipient")
		}
	}
}

func TestParseList(t *testing.T) {
	d := milter.Defaults{DefaultAction: milter.Tempfail, Protocol: "6"}
	specs, err := milter.ParseList("inet:localhost:8891, { unix:/run/m.sock, default_action=accept, protocol={4 no_header_reply}, command_timeout=5s } inet:9000", d)
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 3 {
		t.Fatalf("%d specs", len(specs))
	}
	if s := specs[1]; s.Network != "unix" || s.Address != "/run/m.sock" || s.DefaultAction != milter.Accept || s.Version != 4 || !s.NoHeaderReply || s.CommandTimeout != 5*time.Second {
		t.Errorf("%+v", s)
	}
	if s := specs[2]; s.Address != "localhost:9000" || s.Version != 6 || s.DefaultAction != milter.Tempfail {
		t.Errorf("%+v", s)
	}
	for _, bad := range []string{"tcp:1.2.3.4:5", "inet", "{ inet:1:2, default_action=bounce }", "{ inet:1:2, protocol=5 }", "{ inet:1:2, colour=red }", "{ inet:1:2"} {
		if _, err := milter.ParseList(bad, d); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestCaps: a milter that adds more header text than MaxBody is broken,
// and its default action stands.
func TestCaps(t *testing.T) {
	srv := start(t, miltertest.Milter{On: func(e miltertest.Event) []miltertest.Packet {
		if e.Cmd != miltertest.EndOfMessage {
			return nil
		}
		var out []miltertest.Packet
		for range 20 {
			out = append(out, miltertest.AddHeader("X-Big", strings.Repeat("x", 100)))
		}
		return out
	}})
	ctx := context.Background()
	ms := milter.NewSession([]milter.Spec{spec(t, srv.Addr, "default_action=tempfail")}, milter.Options{MaxBody: 1000})
	defer ms.Close()
	ms.Connect(ctx, "c", netip.MustParseAddr("192.0.2.1"), 1, nil)
	ms.Mail(ctx, []string{"<>"}, nil)
	ms.Rcpt(ctx, []string{"<a@example.com>"}, nil)
	ms.Data(ctx, nil)
	r, _ := ms.Message(ctx, milter.ParseMessage([]byte("Subject: x\r\n\r\nbody\r\n"), -1), nil)
	if r.String() != "451 4.7.1 Service unavailable - try again later" {
		t.Errorf("reply %v", r)
	}
}

// TestUnknownCommand: a command the SMTP server does not know reaches a
// milter of protocol 3 or later as SMFIC_UNKNOWN with its first word, and
// the milter's refusal is the reply (milter8_unknown_event); a protocol
// 2 milter never hears of it.
func TestUnknownCommand(t *testing.T) {
	ctx := context.Background()
	srv := start(t, miltertest.Milter{On: func(e miltertest.Event) []miltertest.Packet {
		if e.Cmd == miltertest.Unknown {
			return []miltertest.Packet{{Code: 'y', Data: []byte("502 5.5.1 Not this one\x00")}}
		}
		return nil
	}})
	ms := milter.NewSession([]milter.Spec{spec(t, srv.Addr, "")}, milter.Options{})
	defer ms.Close()
	ms.Connect(ctx, "client.example", netip.MustParseAddr("192.0.2.1"), 4567, mf)
	r := ms.Unknown(ctx, "BOGUS", mf)
	if r.Kind != milter.Refuse || r.Code != 502 || r.Status != "5.5.1" || r.Text != "Not this one" {
		t.Errorf("reply %+v", r)
	}
	var got []string
	for _, e := range srv.Events() {
		if e.Cmd == miltertest.Unknown {
			got = append(got, string(e.Data))
		}
	}
	if len(got) != 1 || got[0] != "BOGUS\x00" {
		t.Errorf("SMFIC_UNKNOWN data %q", got)
	}

	old := start(t, miltertest.Milter{Version: 2})
	ms2 := milter.NewSession([]milter.Spec{spec(t, old.Addr, "protocol=2")}, milter.Options{})
	defer ms2.Close()
	ms2.Connect(ctx, "client.example", netip.MustParseAddr("192.0.2.1"), 4567, mf)
	if r := ms2.Unknown(ctx, "BOGUS", mf); r.Kind != milter.Continue {
		t.Errorf("protocol 2: reply %+v", r)
	}
	for _, e := range old.Events() {
		if e.Cmd == miltertest.Unknown {
			t.Error("a protocol 2 milter was sent SMFIC_UNKNOWN")
		}
	}
}
