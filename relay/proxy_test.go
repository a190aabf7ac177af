package relay

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/maincf"
	"github.com/mxrelay/mxrelay/relay/milter"
	"github.com/mxrelay/mxrelay/relay/milter/miltertest"
	"github.com/mxrelay/mxrelay/relay/smtpdproxy"
)

// scriptedProxy is a before-queue filter for tests: an SMTP server on
// loopback that records what it is sent and answers by script (the
// command, or "CONNECT" for the greeting and "." for the end of data,
// maps to a reply; unscripted commands get 250, DATA 354). A reply
// "HANG" is never sent.
type scriptedProxy struct {
	ln     net.Listener
	script map[string]string
	mu     sync.Mutex
	got    []string // each session's commands, "MESSAGE:" the message
	quiet  bool     // record nothing (benchmarks)
	done   chan struct{}
	wg     sync.WaitGroup
}

func startProxy(t testing.TB, script map[string]string) *scriptedProxy {
	return startProxyQuiet(t, script, false)
}

func startProxyQuiet(t testing.TB, script map[string]string, quiet bool) *scriptedProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &scriptedProxy{ln: ln, script: script, done: make(chan struct{}), quiet: quiet}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.serve(c) }()
		}
	}()
	t.Cleanup(func() { close(p.done); ln.Close(); p.wg.Wait() })
	return p
}

func (p *scriptedProxy) addr() string { return p.ln.Addr().String() }

func (p *scriptedProxy) record(s string) {
	if p.quiet {
		return
	}
	p.mu.Lock()
	p.got = append(p.got, s)
	p.mu.Unlock()
}

func (p *scriptedProxy) transcript() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.got...)
}

// waitFor waits until the last command the filter got is last (the QUIT
// of a transaction may come after the client's reply).
func (p *scriptedProxy) waitFor(t *testing.T, last string) []string {
	t.Helper()
	for range 500 {
		if got := p.transcript(); len(got) > 0 && got[len(got)-1] == last {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
	return p.transcript()
}

func (p *scriptedProxy) serve(c net.Conn) {
	defer c.Close()
	go func() { <-p.done; c.Close() }()
	r := bufio.NewReader(c)
	say := func(key, def string) bool {
		rep, ok := p.script[key]
		if !ok {
			rep, ok = p.script[strings.ToUpper(strings.Fields(key + " x")[0])] // by verb
		}
		if !ok {
			rep = def
		}
		if rep == "HANG" {
			<-p.done
			return false
		}
		_, err := c.Write([]byte(strings.ReplaceAll(rep, "\n", "\r\n") + "\r\n"))
		return err == nil
	}
	if !say("CONNECT", "220 filter.test ESMTP") {
		return
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		p.record(line)
		verb := strings.ToUpper(strings.Fields(line + " x")[0])
		switch {
		case verb == "EHLO":
			if !say("EHLO", "250-filter.test\n250-XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE\n250 8BITMIME") {
				return
			}
		case verb == "QUIT":
			say("QUIT", "221 2.0.0 Bye")
			return
		case verb == "DATA":
			rep, ok := p.script[line]
			if !ok {
				rep = "354 End data with <CR><LF>.<CR><LF>"
			}
			if !say(line, rep) {
				return
			}
			if !strings.HasPrefix(rep, "354") {
				continue
			}
			var msg strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				msg.WriteString(l)
			}
			p.record("MESSAGE:" + msg.String())
			if !say(".", "250 2.0.0 Ok: queued as FILTERED1") {
				return
			}
		default:
			if !say(line, "250 2.1.0 Ok") {
				return
			}
		}
	}
}

func proxyWorld(t *testing.T, service string, timeout time.Duration, speed bool) *world {
	t.Helper()
	return newWorld(t, worldOpts{noRun: true, cfg: func(c *Config) {
		c.ProxyFilter = &smtpdproxy.Config{Service: service, Timeout: timeout, EHLO: "mx2.example.test", SpeedAdjust: speed}
	}})
}

// TestProxyPassThrough: the filter gets EHLO, XFORWARD, the client's
// MAIL and RCPT commands and the message with our Received: field first
// (no queue ID: nothing is queued here), and its replies are the client's.
func TestProxyPassThrough(t *testing.T) {
	p := startProxy(t, map[string]string{
		"RCPT TO:<bad@example.test>": "550 5.1.1 <bad@example.test>: Recipient address rejected: no such user",
		"RCPT TO:<v@example.test>":   "450-4.2.0 first line\n450 4.2.0 second line",
	})
	w := proxyWorld(t, p.addr(), 5*time.Second, false)
	rs := w.raw()
	rs.cmd("EHLO client.example")
	if code, msg := rs.cmd("MAIL FROM:<s@sender.example> BODY=8BITMIME"); code != 250 {
		t.Fatalf("MAIL: %d %s", code, msg)
	}
	if len(p.transcript()) != 0 {
		t.Errorf("the filter was contacted at MAIL: %q", p.transcript())
	}
	if code, msg := rs.cmd("RCPT TO:<u@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;U+2Bx@example.test"); code != 250 || msg != "2.1.5 Ok" {
		t.Errorf("RCPT u: %d %s", code, msg)
	}
	if code, msg := rs.cmd("RCPT TO:<bad@example.test>"); code != 550 || msg != "5.1.1 <bad@example.test>: Recipient address rejected: no such user" {
		t.Errorf("RCPT bad: %d %s", code, msg)
	}
	if code, msg := rs.cmd("RCPT TO:<v@example.test>"); code != 450 || msg != "4.2.0 first line\n4.2.0 second line" {
		t.Errorf("RCPT v: %d %q", code, msg)
	}
	if code, msg := rs.cmd("DATA"); code != 354 {
		t.Errorf("DATA: %d %s", code, msg)
	}
	if code, msg := rs.cmd("Subject: hi\r\n\r\n..dot\r\nbody\r\n."); code != 250 || msg != "2.0.0 Ok: queued as FILTERED1" {
		t.Errorf("end of data: %d %s", code, msg)
	}
	got := p.waitFor(t, "QUIT")
	want := []string{
		"EHLO mx2.example.test",
		"XFORWARD NAME=[UNAVAILABLE] ADDR=127.0.0.1 PORT=",
		"MAIL FROM:<s@sender.example> BODY=8BITMIME",
		"RCPT TO:<u@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;U+2Bx@example.test",
		"RCPT TO:<bad@example.test>",
		"RCPT TO:<v@example.test>",
		"DATA",
		"MESSAGE:Received: from client.example (unknown [127.0.0.1])\r\n\tby mx2.example.test (Postfix) with ESMTP\r\n\tfor <u@example.test>; ",
		"QUIT",
	}
	if len(got) != len(want) {
		t.Fatalf("the filter got\n%q\nwant\n%q", got, want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("the filter got %q, want %q...", got[i], want[i])
		}
	}
	if !strings.HasSuffix(got[1], " HELO=client.example IDENT=[UNAVAILABLE] PROTO=ESMTP SOURCE=REMOTE") {
		t.Errorf("XFORWARD: %q", got[1])
	}
	if !strings.HasSuffix(got[7], "\r\nSubject: hi\r\n\r\n..dot\r\nbody\r\n") {
		t.Errorf("message: %q", got[7])
	}
	if n := len(queued(t, w.mem)); n != 0 {
		t.Errorf("%d queued on the proxied listener", n)
	}
	if !strings.Contains(w.logs.String(), "proxy-accept") {
		t.Errorf("no proxy-accept line:\n%s", w.logs.String())
	}
	// The next transaction opens a new connection.
	rs.cmd("MAIL FROM:<s@sender.example>")
	rs.cmd("RCPT TO:<u@example.test>")
	rs.cmd("RSET")
	if got := p.waitFor(t, "QUIT"); len(got) != len(want)+5 || got[len(got)-1] != "QUIT" {
		t.Errorf("after RSET the filter got %q", got[len(want):])
	}
}

// TestProxyRefusals: Postfix's replies when the filter is down, breaks
// the protocol, refuses MAIL, RCPT, DATA or the message, or does not
// answer in time (smtpd_proxy.c, smtpd.c).
func TestProxyRefusals(t *testing.T) {
	const failure = "4.3.0 Error: queue file write error"
	type step struct {
		line string
		code int
		msg  string
	}
	ok := func(line string) step { return step{line, 0, ""} }
	for _, c := range []struct {
		name   string
		script map[string]string
		down   bool
		steps  []step
	}{
		{name: "down", down: true, steps: []step{{"RCPT TO:<u@example.test>", 451, failure}, {"DATA", 554, "5.5.1 Error: no valid recipients"}}},
		{name: "greeting", script: map[string]string{"CONNECT": "554 5.3.2 not now"}, steps: []step{{"RCPT TO:<u@example.test>", 451, failure}}},
		{name: "ehlo", script: map[string]string{"EHLO": "502 5.5.1 what"}, steps: []step{{"RCPT TO:<u@example.test>", 451, failure}}},
		{name: "mail", script: map[string]string{"MAIL FROM:<s@sender.example>": "450 4.7.1 <s@sender.example>: sender held"},
			steps: []step{{"RCPT TO:<u@example.test>", 450, "4.7.1 <s@sender.example>: sender held"}}},
		{name: "mail 354", script: map[string]string{"MAIL FROM:<s@sender.example>": "354 go on"}, steps: []step{{"RCPT TO:<u@example.test>", 451, failure}}},
		{name: "rcpt 354", script: map[string]string{"RCPT TO:<u@example.test>": "354 what"}, steps: []step{{"RCPT TO:<u@example.test>", 451, failure}}},
		{name: "data", script: map[string]string{"DATA": "554 5.5.1 no data for you"},
			steps: []step{ok("RCPT TO:<u@example.test>"), {"DATA", 554, "5.5.1 no data for you"}}},
		{name: "data 250", script: map[string]string{"DATA": "250 fine"},
			steps: []step{ok("RCPT TO:<u@example.test>"), {"DATA", 451, failure}}},
		{name: "end of data", script: map[string]string{".": "550 5.7.1 virus found"},
			steps: []step{ok("RCPT TO:<u@example.test>"), {"DATA", 354, ""}, {"Subject: x\r\n\r\nx\r\n.", 550, "5.7.1 virus found"}}},
		{name: "rcpt timeout", script: map[string]string{"RCPT TO:<u@example.test>": "HANG"},
			steps: []step{{"RCPT TO:<u@example.test>", 451, failure}, {"RCPT TO:<v@example.test>", 451, failure}}},
		{name: "end of data timeout", script: map[string]string{".": "HANG"},
			steps: []step{ok("RCPT TO:<u@example.test>"), {"DATA", 354, ""}, {"Subject: x\r\n\r\nx\r\n.", 451, failure}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr := "127.0.0.1:1"
			if !c.down {
				addr = startProxy(t, c.script).addr()
			} else {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				addr = ln.Addr().String()
				ln.Close()
			}
			w := proxyWorld(t, addr, 300*time.Millisecond, false)
			rs := w.raw()
			rs.cmd("EHLO client.example")
			rs.cmd("MAIL FROM:<s@sender.example>")
			for _, s := range c.steps {
				code, msg := rs.cmd(s.line)
				if s.code == 0 {
					if code != 250 {
						t.Fatalf("%s: %d %s", s.line, code, msg)
					}
					continue
				}
				if code != s.code || s.msg != "" && msg != s.msg {
					t.Errorf("%s: %d %s, want %d %s", s.line, code, msg, s.code, s.msg)
				}
			}
			if n := len(queued(t, w.mem)); n != 0 {
				t.Errorf("%d queued", n)
			}
			// The session goes on.
			if code, _ := rs.cmd("RSET"); code != 250 {
				t.Errorf("RSET: %d", code)
			}
		})
	}
}

// TestProxySpeedAdjust: with smtpd_proxy_options = speed_adjust the
// filter is contacted after the whole message, and its first refusal is
// the reply to the message.
func TestProxySpeedAdjust(t *testing.T) {
	p := startProxy(t, map[string]string{"RCPT TO:<v@example.test>": "550 5.1.1 no v"})
	w := proxyWorld(t, p.addr(), 5*time.Second, true)
	rs := w.raw()
	rs.cmd("EHLO client.example")
	rs.cmd("MAIL FROM:<s@sender.example>")
	if code, msg := rs.cmd("RCPT TO:<u@example.test>"); code != 250 {
		t.Fatalf("RCPT: %d %s", code, msg)
	}
	rs.cmd("DATA")
	if len(p.transcript()) != 0 {
		t.Errorf("the filter was contacted before the message: %q", p.transcript())
	}
	if code, msg := rs.cmd("Subject: x\r\n\r\nx\r\n."); code != 250 || msg != "2.0.0 Ok: queued as FILTERED1" {
		t.Errorf("end of data: %d %s", code, msg)
	}
	rs.cmd("MAIL FROM:<s@sender.example>")
	rs.cmd("RCPT TO:<u@example.test>")
	if code, _ := rs.cmd("RCPT TO:<v@example.test>"); code != 250 {
		t.Errorf("RCPT v: %d", code)
	}
	rs.cmd("DATA")
	if code, msg := rs.cmd("Subject: x\r\n\r\nx\r\n."); code != 550 || msg != "5.1.1 no v" {
		t.Errorf("end of data: %d %s", code, msg)
	}
}

// TestLoadProxyFilter: smtpd_proxy_filter and its settings from main.cf;
// an unknown smtpd_proxy_options value or an unusable endpoint is a load
// error naming the parameter, as Postfix's fatal name_mask.
func TestLoadProxyFilter(t *testing.T) {
	load := func(extra string) (*Loaded, error) {
		cf, err := maincf.Parse(strings.NewReader("compatibility_level = 3.6\nmyhostname = mx.example.test\nrelay_domains = example.test\n"+extra), "main.cf")
		if err != nil {
			t.Fatal(err)
		}
		cf.InterfaceAddrs = loopbackOnly
		return Load(t.Context(), cf, LoadOptions{Queue: queue.NewMemory(), DNS: []string{"127.0.0.1:1"}})
	}
	ld, err := load("smtpd_proxy_filter = inet:[127.0.0.1]:10024\nsmtpd_proxy_timeout = 30s\nsmtpd_proxy_options = speed_adjust\n")
	if err != nil {
		t.Fatal(err)
	}
	pf := ld.MX.c.ProxyFilter
	if pf == nil || pf.Service != "inet:[127.0.0.1]:10024" || pf.Timeout != 30*time.Second || pf.EHLO != "mx.example.test" || !pf.SpeedAdjust {
		t.Errorf("ProxyFilter %+v", pf)
	}
	if ld, err := load(""); err != nil || ld.MX.c.ProxyFilter != nil {
		t.Errorf("no filter: %v", err)
	}
	for _, bad := range []string{"smtpd_proxy_filter = 127.0.0.1:10024\nsmtpd_proxy_options = fast\n", "smtpd_proxy_filter = unix:\n"} {
		if _, err := load(bad); err == nil || !strings.Contains(err.Error(), "smtpd_proxy_") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// TestProxyMilters: on a proxied listener the milters see the commands
// before the filter does (a milter's refusal keeps the recipient from
// it) and never the message: Postfix's milters get the message from
// cleanup, which is not involved until the filter reinjects it.
func TestProxyMilters(t *testing.T) {
	srv, err := miltertest.Start(miltertest.Milter{On: func(e miltertest.Event) []miltertest.Packet {
		if e.Cmd == miltertest.Rcpt && e.Strings()[0] == "<bad@example.test>" {
			return []miltertest.Packet{miltertest.Reject()}
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	d := milter.Defaults{Macros: milter.DefaultMacros(), CommandTimeout: 2 * time.Second, ContentTimeout: 2 * time.Second}
	specs, err := milter.ParseList("inet:"+srv.Addr, d)
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, nil)
	w := newWorld(t, worldOpts{noRun: true, cfg: func(c *Config) {
		c.Milters = &Milters{Specs: specs, Defaults: d, Version: "Postfix 3.7.11"}
		c.ProxyFilter = &smtpdproxy.Config{Service: p.addr(), EHLO: "mx2.example.test"}
	}})
	rs := w.raw()
	rs.cmd("EHLO client.example")
	rs.cmd("MAIL FROM:<s@sender.example>")
	if code, msg := rs.cmd("RCPT TO:<bad@example.test>"); code != 550 || msg != "5.7.1 Command rejected" {
		t.Errorf("RCPT bad: %d %s", code, msg)
	}
	if len(p.transcript()) != 0 {
		t.Errorf("the filter was contacted for a recipient the milter refused: %q", p.transcript())
	}
	rs.cmd("RCPT TO:<u@example.test>")
	rs.cmd("DATA")
	if code, msg := rs.cmd("Subject: x\r\n\r\nx\r\n."); code != 250 || msg != "2.0.0 Ok: queued as FILTERED1" {
		t.Errorf("end of data: %d %s", code, msg)
	}
	var cmds []byte
	for _, e := range srv.Events() {
		cmds = append(cmds, e.Cmd)
	}
	if got := string(cmds); !strings.Contains(got, string([]byte{miltertest.Rcpt, miltertest.Rcpt})) || strings.ContainsAny(got, string([]byte{miltertest.Header, miltertest.EndOfHeader, miltertest.Body, miltertest.EndOfMessage})) {
		t.Errorf("milter events %q: want both RCPTs and no message events", got)
	}
}

// TestProxyGoSMTP: the go-smtp front end (MX.NewSession) passes the
// transaction to the filter too, and gives its replies.
func TestProxyGoSMTP(t *testing.T) {
	p := startProxy(t, map[string]string{"RCPT TO:<v@example.test>": "550 5.1.1 no v"})
	w := proxyWorld(t, p.addr(), 5*time.Second, false)
	_, addr := mountElsewhere(t, w)
	resp, err := goSMTPRefusedThenAccepted(t, addr)
	if err != nil || resp.StatusText != "2.0.0 Ok: queued as FILTERED1" {
		t.Errorf("end of data: %+v %v", resp, err)
	}
	if n := len(queued(t, w.mem)); n != 0 {
		t.Errorf("%d queued", n)
	}
}

// TestProxySoftBounce: with soft_bounce the filter's 5xx replies reach
// the client as 4xx, as every reply of Postfix's smtpd_chat_reply.
func TestProxySoftBounce(t *testing.T) {
	p := startProxy(t, map[string]string{"RCPT TO:<v@example.test>": "550 5.1.1 no v", ".": "554 5.7.1 virus"})
	w := newWorld(t, worldOpts{noRun: true, cfg: func(c *Config) {
		c.SoftBounce = true
		c.ProxyFilter = &smtpdproxy.Config{Service: p.addr(), EHLO: "mx2.example.test"}
	}})
	rs := w.raw()
	rs.cmd("EHLO client.example")
	rs.cmd("MAIL FROM:<s@sender.example>")
	if code, msg := rs.cmd("RCPT TO:<v@example.test>"); code != 450 || msg != "4.1.1 no v" {
		t.Errorf("RCPT v: %d %s", code, msg)
	}
	rs.cmd("RCPT TO:<u@example.test>")
	rs.cmd("DATA")
	if code, msg := rs.cmd("Subject: x\r\n\r\nx\r\n."); code != 454 || msg != "4.7.1 virus" {
		t.Errorf("end of data: %d %s", code, msg)
	}
}

// goSMTPRefusedThenAccepted runs one transaction as a go-smtp client on
// addr: RCPT v@example.test must be refused with 550, u@example.test
// accepted; it returns the end-of-data reply.
func goSMTPRefusedThenAccepted(t *testing.T, addr string) (*smtp.DataResponse, error) {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.example"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("s@sender.example", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("v@example.test", nil); smtpCode(err) != 550 {
		t.Errorf("RCPT v@: %v", err)
	}
	if err := c.Rcpt("u@example.test", nil); err != nil {
		t.Fatal(err)
	}
	wc, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(wc, "Subject: x\r\n\r\nbody\r\n")
	return wc.CloseWithResponse()
}
