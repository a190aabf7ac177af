package client

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

func TestDeliverPipelined(t *testing.T) {
	srv := newFakeServer(t, nil)
	var wl writeLog
	c := newClient(t, func(c *Config) { c.Dialer = wl.dialer() })
	m := msg("a@src.test", "Subject: hi\r\n\r\nhello\r\n", "x@dst.test", "y@dst.test", "z@dst.test")
	res, err := c.Deliver(context.Background(), srv.target(), m)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, res, Delivered, Delivered, Delivered)
	if !res.Established || res.Reused || res.TLS {
		t.Errorf("result flags: %+v", res)
	}
	if r := res.Recipients[0].Reply; r.Code != 250 {
		t.Errorf("reply %v", r)
	}
	// MAIL, the three RCPTs and DATA left in one write.
	w := wl.writeWith(t, "MAIL FROM:<a@src.test>")
	for _, want := range []string{"RCPT TO:<x@dst.test>", "RCPT TO:<y@dst.test>", "RCPT TO:<z@dst.test>", "DATA\r\n"} {
		if !strings.Contains(w, want) {
			t.Errorf("pipelined write %q lacks %q", w, want)
		}
	}
	// EHLO carries our name.
	if !strings.Contains(srv.rawString(), "EHLO relay.test\r\n") {
		t.Errorf("server saw %q", srv.rawString())
	}
	got := srv.be.messages()
	if len(got) != 1 || got[0].From != "a@src.test" || len(got[0].Rcpts) != 3 {
		t.Fatalf("server got %+v", got)
	}
	if string(got[0].Data) != "Subject: hi\r\n\r\nhello\r\n" {
		t.Errorf("data %q", got[0].Data)
	}
	if got[0].Mail.Size != int64(len("Subject: hi\r\n\r\nhello\r\n")) {
		t.Errorf("SIZE=%d", got[0].Mail.Size)
	}
}

func TestDeliverWithoutPipelining(t *testing.T) {
	srv := newFakeServer(t, nil)
	srv.hideKeywords("PIPELINING")
	var wl writeLog
	c := newClient(t, func(c *Config) { c.Dialer = wl.dialer() })
	m := msg("a@src.test", "x\r\n", "x@dst.test", "y@dst.test")
	res, err := c.Deliver(context.Background(), srv.target(), m)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, res, Delivered, Delivered)
	// Each command in its own write, sent after the previous reply.
	for _, cmd := range []string{"MAIL FROM:<a@src.test> SIZE=3\r\n", "RCPT TO:<x@dst.test>\r\n", "RCPT TO:<y@dst.test>\r\n", "DATA\r\n"} {
		if w := wl.writeWith(t, cmd); w != cmd {
			t.Errorf("write %q, want exactly %q", w, cmd)
		}
	}
}

func TestRcptRejectionsPerRecipient(t *testing.T) {
	srv := newFakeServer(t, func(_ *smtp.Server, b *backend) {
		b.rcpt = func(to string) error {
			switch to {
			case "bad@dst.test":
				return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<bad@dst.test>: Recipient address rejected: User unknown"}
			case "later@dst.test":
				return &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "try later"}
			}
			return nil
		}
	})
	c := newClient(t, nil)
	m := msg("a@src.test", "x\r\n", "ok@dst.test", "bad@dst.test", "later@dst.test", "ok2@dst.test")
	res, err := c.Deliver(context.Background(), srv.target(), m)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, res, Delivered, Failed, Deferred, Delivered)
	bad := res.Recipients[1].Err
	if bad.Code != 550 || bad.Enhanced != (EnhancedCode{5, 1, 1}) || bad.Temporary() || bad.Stage != StageRcpt || bad.Kind != KindRcpt {
		t.Errorf("bad: %+v", bad)
	}
	want := "host mx.test[127.0.0.1] said: 550 5.1.1 <bad@dst.test>: Recipient address rejected: User unknown (in reply to RCPT TO command)"
	if bad.Error() != want {
		t.Errorf("error text\n got %q\nwant %q", bad.Error(), want)
	}
	if later := res.Recipients[2].Err; !later.Temporary() || !later.NextAddress() {
		t.Errorf("4xx RCPT should go to the next address: %+v", later)
	}
	if p := res.Pending(); len(p) != 1 || p[0] != 2 {
		t.Errorf("Pending() = %v", p)
	}
	if got := srv.be.messages(); len(got) != 1 || strings.Join(got[0].Rcpts, ",") != "ok@dst.test,ok2@dst.test" {
		t.Errorf("server got %+v", got)
	}
}

func TestAllRecipientsRejectedPipelined(t *testing.T) {
	srv := newFakeServer(t, func(_ *smtp.Server, b *backend) {
		b.rcpt = func(string) error {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no"}
		}
	})
	c := newClient(t, nil)
	for range 2 { // the session stays usable for the next message
		res, err := c.Deliver(context.Background(), srv.target(), msg("a@src.test", "x\r\n", "u@dst.test", "v@dst.test"))
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, res, Failed, Failed)
	}
	if n := len(srv.be.messages()); n != 0 {
		t.Errorf("%d messages stored", n)
	}
	if srv.accepted() != 1 {
		t.Errorf("%d connections, want 1 (reuse after all-rejected)", srv.accepted())
	}
}

func TestMailRejected(t *testing.T) {
	for _, tc := range []struct {
		code   int
		status Status
	}{{550, Failed}, {451, Deferred}} {
		srv := newFakeServer(t, nil)
		srv.Backend = smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
			return &mailRejecter{code: tc.code}, nil
		})
		c := newClient(t, nil)
		res, err := c.Deliver(context.Background(), srv.target(), msg("a@src.test", "x\r\n", "u@dst.test", "v@dst.test"))
		e := asError(t, err)
		if e.Kind != KindMail || e.Code != tc.code || e.Stage != StageMail {
			t.Errorf("%d: error %+v", tc.code, e)
		}
		wantStatus(t, res, tc.status, tc.status)
		if e.NextAddress() != (tc.code/100 == 4) {
			t.Errorf("%d: NextAddress %v", tc.code, e.NextAddress())
		}
	}
}

type mailRejecter struct {
	bsession
	code int
}

func (m *mailRejecter) Reset()        {}
func (m *mailRejecter) Logout() error { return nil }
func (m *mailRejecter) Mail(string, *smtp.MailOptions) error {
	return &smtp.SMTPError{Code: m.code, EnhancedCode: smtp.EnhancedCode{m.code / 100, 7, 1}, Message: "sender refused"}
}

func TestDataRejected(t *testing.T) {
	srv := newFakeServer(t, func(_ *smtp.Server, b *backend) {
		b.data = func(r io.Reader) error {
			io.Copy(io.Discard, r)
			return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "spam"}
		}
	})
	c := newClient(t, nil)
	res, err := c.Deliver(context.Background(), srv.target(), msg("a@src.test", "x\r\n", "u@dst.test"))
	e := asError(t, err)
	if e.Kind != KindData || e.Stage != StageDataDone || e.Temporary() {
		t.Errorf("error %+v", e)
	}
	if !strings.HasSuffix(e.Error(), "(in reply to end of DATA command)") {
		t.Errorf("text %q", e.Error())
	}
	wantStatus(t, res, Failed)
}

func TestInvalidEnvelope(t *testing.T) {
	srv := newFakeServer(t, nil)
	c := newClient(t, nil)
	m := msg("a@src.test", "x\r\n", "ok@dst.test", "in\r\njected@dst.test", "x>@dst.test")
	res, err := c.Deliver(context.Background(), srv.target(), m)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, res, Delivered, Failed, Failed)
	if e := res.Recipients[1].Err; e.Enhanced != (EnhancedCode{5, 1, 3}) || e.Kind != KindMessage {
		t.Errorf("error %+v", e)
	}
	if strings.Contains(srv.rawString(), "jected") {
		t.Error("invalid recipient reached the server")
	}
	res, err = c.Deliver(context.Background(), srv.target(), msg("a\r\nRSET@src.test", "x\r\n", "ok@dst.test"))
	if e := asError(t, err); e.Enhanced != (EnhancedCode{5, 1, 7}) {
		t.Errorf("sender error %+v", e)
	}
	wantStatus(t, res, Failed)
	// DSN parameters cannot carry commands either.
	m = msg("a@src.test", "x\r\n", "o1@dst.test", "o2@dst.test")
	m.Recipients[0].ORcptType = "rfc822\r\nQUIT"
	m.Recipients[1].Notify = "FAILURE\r\nQUIT"
	res, _ = c.Deliver(context.Background(), srv.target(), m)
	wantStatus(t, res, Failed, Failed)
	if strings.Contains(srv.rawString(), "o1@") || strings.Contains(srv.rawString(), "o2@") {
		t.Error("recipient with an invalid DSN parameter reached the server")
	}
}

// FuzzEnvelopeCommands: whatever the envelope, an accepted one yields MAIL
// and RCPT commands that are single lines of printable text: nothing in an
// envelope can inject a command.
func FuzzEnvelopeCommands(f *testing.F) {
	f.Add("a@src.test", "u@dst.test", "FAILURE,DELAY", "u@dst.test", "", "id\r\n1", "HDRS", true)
	f.Add("", "用户@例子.test", "", "用户@例子.test", "utf-8", "", "", false)
	f.Add("a\r\nRSET@x", "u@x", "NEVER", "o", "rfc822\r\nQUIT", "", "FULL", true)
	f.Add("a@b\u00fccher.test", "bob@\u0411\u0443\u043a\u0432\u044b.test", "", "bob@b\u00fccher.test", "", "", "", false)
	f.Add("a@src.test", "j\u00f6@b\u00fccher.test", "", "", "", "", "", false)
	f.Add("a@src.test", "bob@\uff1e.test", "", "", "", "", "", false)
	f.Fuzz(func(t *testing.T, from, rcpt, notify, orcpt, orcptType, envid, ret string, utf8 bool) {
		c := &Client{}
		m := &Message{From: from, SMTPUTF8: utf8, EnvID: envid, Ret: ret,
			Recipients: []Recipient{{Address: rcpt, Notify: notify, ORcpt: orcpt, ORcptType: orcptType}}}
		res := &Result{Recipients: make([]RecipientResult, 1)}
		active, err := c.checkEnvelope(&Target{Host: "mx.test"}, m, res)
		if err != nil || len(active) == 0 {
			return
		}
		tx := &txn{m: m, ci: contentInfo{size: 10, eightBit: true, utf8Header: true}, active: active, res: res}
		tx.setUTF8()
		for _, offer := range []bool{true, false} {
			s := &session{ext: extensions{dsn: true, smtputf8: offer, size: true, eightBit: true}}
			for _, line := range []string{s.mailCommand(tx), s.rcptCommand(tx, &m.Recipients[0])} {
				for i := 0; i < len(line); i++ {
					if line[i] < 0x20 || line[i] == 0x7f {
						t.Fatalf("control byte %#x in command %q", line[i], line)
					}
				}
				if strings.Count(line, "<") != 1 || strings.Count(line, ">") != 1 {
					t.Fatalf("ambiguous path in %q", line)
				}
				// Without SMTPUTF8, a transaction that can go (transact
				// refuses needUTF8 ones) is sent in ASCII only.
				if !s.utf8(tx) && !tx.needUTF8 && !isASCII(line) {
					t.Fatalf("non-ASCII command %q to a peer without SMTPUTF8", line)
				}
			}
		}
	})
}

func TestNewRejectsBadHostname(t *testing.T) {
	for _, h := range []string{"", "localhost", "LOCALHOST.", "localhost.localdomain", "a b"} {
		if _, err := New(Config{Hostname: h}); err == nil {
			t.Errorf("New accepted hostname %q", h)
		}
	}
	if _, err := New(Config{Hostname: "x.test", Timeouts: Timeouts{Rcpt: -1}}); err == nil {
		t.Error("New accepted a negative timeout")
	}
}

func TestClosedClient(t *testing.T) {
	c := newClient(t, nil)
	c.Close()
	res, err := c.Deliver(context.Background(), Target{Host: "x", Address: "127.0.0.1:1"}, msg("", "", "u@d.test"))
	if !errors.Is(err, ErrClosed) || len(res.Recipients) != 1 {
		t.Fatalf("err %v", err)
	}
}
