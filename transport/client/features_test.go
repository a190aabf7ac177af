package client

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/mxrelay/mxrelay/internal/peertest"
)

// selfSigned returns a server certificate for name and a pool trusting it.
func selfSigned(t *testing.T, name string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	return peertest.Certificate(t, name)
}

func tlsServer(t *testing.T, mod func(*tls.Config)) (*fakeServer, *x509.CertPool) {
	cert, pool := selfSigned(t, "mx.test")
	srv := newFakeServer(t, func(s *smtp.Server, _ *backend) {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		if mod != nil {
			mod(s.TLSConfig)
		}
	})
	return srv, pool
}

func TestStartTLSPolicies(t *testing.T) {
	ctx := context.Background()
	body := "Subject: secret\r\n\r\nx\r\n"

	t.Run("verify", func(t *testing.T) {
		srv, pool := tlsServer(t, nil)
		c := newClient(t, nil)
		tg := srv.target()
		tg.TLS, tg.TLSConfig = TLSVerify, &tls.Config{RootCAs: pool}
		res, err := c.Deliver(ctx, tg, msg("a@src.test", body, "u@dst.test"))
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, res, Delivered)
		raw := srv.rawString()
		if !res.TLS || !strings.Contains(raw, "STARTTLS\r\n") || strings.Contains(raw, "MAIL FROM") || strings.Contains(raw, "secret") {
			t.Errorf("TLS %v; server saw in clear: %q", res.TLS, raw)
		}
		if len(srv.be.messages()) != 1 {
			t.Error("message not received")
		}
	})
	t.Run("verify wrong name", func(t *testing.T) {
		srv, pool := tlsServer(t, nil)
		c := newClient(t, nil)
		tg := srv.target()
		tg.Host = "other.test"
		tg.TLS, tg.TLSConfig = TLSVerify, &tls.Config{RootCAs: pool}
		res, err := c.Deliver(ctx, tg, msg("a@src.test", body, "u@dst.test"))
		e := asError(t, err)
		if e.Kind != KindTLS || !e.Temporary() || !e.NextAddress() || e.RetryWithoutTLS() || !strings.Contains(e.Error(), "certificate not verified") {
			t.Errorf("error %v %+v", e, e)
		}
		var cerr *tls.CertificateVerificationError
		if !errors.As(err, &cerr) {
			t.Errorf("cause %v is not a certificate error", e.Err)
		}
		wantStatus(t, res, Deferred)
		if res.Established {
			t.Error("a session that failed STARTTLS counted as established")
		}
	})
	t.Run("mandatory without STARTTLS", func(t *testing.T) {
		srv := newFakeServer(t, nil)
		c := newClient(t, nil)
		tg := srv.target()
		tg.TLS = TLSMandatory
		res, err := c.Deliver(ctx, tg, msg("a@src.test", body, "u@dst.test"))
		e := asError(t, err)
		if e.Kind != KindTLS || e.Enhanced != (EnhancedCode{4, 7, 4}) || !e.NextAddress() {
			t.Errorf("error %v %+v", e, e)
		}
		want := "TLS is required, but was not offered by host mx.test[127.0.0.1]"
		if e.Error() != want {
			t.Errorf("text %q, want %q", e.Error(), want)
		}
		wantStatus(t, res, Deferred)
		if strings.Contains(srv.rawString(), "MAIL") {
			t.Error("MAIL sent without TLS")
		}
	})
	t.Run("mandatory", func(t *testing.T) {
		srv, _ := tlsServer(t, nil)
		c := newClient(t, nil)
		tg := srv.target()
		tg.TLS = TLSMandatory // self-signed is fine: no verification
		res, err := c.Deliver(ctx, tg, msg("a@src.test", body, "u@dst.test"))
		if err != nil || !res.TLS {
			t.Fatalf("err %v, TLS %v", err, res.TLS)
		}
	})
	t.Run("opportunistic without STARTTLS", func(t *testing.T) {
		srv := newFakeServer(t, nil)
		c := newClient(t, nil)
		tg := srv.target()
		tg.TLS = TLSOpportunistic
		res, err := c.Deliver(ctx, tg, msg("a@src.test", body, "u@dst.test"))
		if err != nil || res.TLS {
			t.Fatalf("err %v TLS %v", err, res.TLS)
		}
		wantStatus(t, res, Delivered)
	})
	t.Run("opportunistic handshake failure then clear", func(t *testing.T) {
		srv, _ := tlsServer(t, func(c *tls.Config) { c.MinVersion = tls.VersionTLS13 })
		c := newClient(t, nil)
		tg := srv.target()
		tg.TLS, tg.TLSConfig = TLSOpportunistic, &tls.Config{MaxVersion: tls.VersionTLS12}
		res, err := c.Deliver(ctx, tg, msg("a@src.test", body, "u@dst.test"))
		e := asError(t, err)
		if e.Kind != KindTLS || !e.RetryWithoutTLS() || e.Enhanced != (EnhancedCode{4, 7, 5}) {
			t.Fatalf("error %v %+v", e, e)
		}
		wantStatus(t, res, Deferred)
		// The caller's retry in clear, as Postfix does.
		tg.TLS = TLSNone
		res, err = c.Deliver(ctx, tg, msg("a@src.test", body, "u@dst.test"))
		if err != nil || res.TLS {
			t.Fatalf("clear retry: %v", err)
		}
		wantStatus(t, res, Delivered)
	})
	t.Run("none", func(t *testing.T) {
		srv, _ := tlsServer(t, nil)
		c := newClient(t, nil)
		res, err := c.Deliver(ctx, srv.target(), msg("a@src.test", body, "u@dst.test"))
		if err != nil || res.TLS || strings.Contains(srv.rawString(), "STARTTLS") {
			t.Fatalf("err %v TLS %v", err, res.TLS)
		}
	})
}

func TestStartTLSInjection(t *testing.T) {
	addr := scriptServer(t, "220 script.test ESMTP\r\n", basicScript(func(cmd string) (string, bool) {
		switch cmd {
		case "EHLO relay.test":
			return "250-script.test\r\n250 STARTTLS\r\n", true
		case "STARTTLS":
			return "220 2.0.0 Ready\r\n250 injected\r\n", true
		}
		return "", false
	}))
	c := newClient(t, nil)
	_, err := c.Deliver(context.Background(), Target{Host: "mx.test", Address: addr, TLS: TLSMandatory}, msg("a@src.test", "x", "u@dst.test"))
	if e := asError(t, err); e.Kind != KindLost || e.Stage != StageStartTLS {
		t.Fatalf("error %v %+v", e, e)
	}
}

func TestSizeLimit(t *testing.T) {
	srv := newFakeServer(t, func(s *smtp.Server, _ *backend) { s.MaxMessageBytes = 100 })
	c := newClient(t, nil)
	body := strings.Repeat("x", 60) + "\n" + strings.Repeat("y", 60) + "\n"
	res, err := c.Deliver(context.Background(), srv.target(), msg("a@src.test", body, "u@dst.test", "v@dst.test"))
	e := asError(t, err)
	if e.Kind != KindMessage || e.Code != 552 || e.Enhanced != (EnhancedCode{5, 3, 4}) || e.Temporary() || e.NextAddress() {
		t.Errorf("error %v %+v", e, e)
	}
	if want := "message size 124 exceeds size limit 100 of server mx.test[127.0.0.1]"; e.Error() != want {
		t.Errorf("text %q, want %q", e.Error(), want)
	}
	wantStatus(t, res, Failed, Failed)
	if strings.Contains(srv.rawString(), "MAIL") {
		t.Error("MAIL sent for an oversized message")
	}
	// The session is still good for a message that fits.
	if _, err := c.Deliver(context.Background(), srv.target(), msg("a@src.test", "small\n", "u@dst.test")); err != nil {
		t.Fatal(err)
	}
	if srv.accepted() != 1 {
		t.Errorf("%d connections", srv.accepted())
	}
}

func TestSMTPUTF8(t *testing.T) {
	ctx := context.Background()
	asciiHdr := "Subject: x\r\n\r\ncaf\xc3\xa9\r\n" // 8-bit body only
	utf8Hdr := "Subject: caf\xc3\xa9\r\n\r\nx\r\n"
	for _, tc := range []struct {
		name      string
		offer     bool
		flag      bool
		rcpt      string
		body      string
		status    Status
		wantParam bool
		from      string // default a@src.test
		wantFrom  string // default from
		wantRcpt  string // default rcpt
	}{
		// UTF-8 only in a domain: A-labels to a peer without SMTPUTF8,
		// the address as is with SMTPUTF8 to a peer that offers it.
		{name: "utf8 domain recipient, peer without", rcpt: "bob@b\xc3\xbccher.test", body: asciiHdr, status: Delivered, wantRcpt: "bob@xn--bcher-kva.test"},
		{name: "utf8 domain sender, peer without", from: "a@B\xc3\x9cCHER.test", rcpt: "u@dst.test", body: asciiHdr, status: Delivered, wantFrom: "a@xn--bcher-kva.test"},
		{name: "utf8 domain recipient, peer with", offer: true, rcpt: "bob@b\xc3\xbccher.test", body: asciiHdr, status: Delivered, wantParam: true},
		{name: "utf8 local part and domain, peer without", rcpt: "j\xc3\xb6@b\xc3\xbccher.test", body: asciiHdr, status: Failed},
		{name: "invalid IDN domain, peer without", rcpt: "bob@\xe2\x80\x8d.test", body: asciiHdr, status: Failed},
		{"utf8 recipient, peer without", false, false, "j\xc3\xb6@dst.test", asciiHdr, Failed, false, "", "", ""},
		{"flagged, ascii envelope and headers, peer without", false, true, "u@dst.test", asciiHdr, Delivered, false, "", "", ""},
		{"flagged, utf8 header, peer without", false, true, "u@dst.test", utf8Hdr, Failed, false, "", "", ""},
		{"unflagged utf8 header, peer without", false, false, "u@dst.test", utf8Hdr, Delivered, false, "", "", ""},
		{"utf8 recipient, peer with", true, false, "j\xc3\xb6@dst.test", asciiHdr, Delivered, true, "", "", ""},
		{"flagged, peer with", true, true, "u@dst.test", asciiHdr, Delivered, true, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeServer(t, func(s *smtp.Server, _ *backend) { s.EnableSMTPUTF8 = tc.offer })
			c := newClient(t, nil)
			from := cmp.Or(tc.from, "a@src.test")
			m := msg(from, tc.body, tc.rcpt)
			m.SMTPUTF8 = tc.flag
			res, err := c.Deliver(ctx, srv.target(), m)
			wantStatus(t, res, tc.status)
			if tc.status == Failed {
				e := asError(t, err)
				if e.Enhanced != (EnhancedCode{5, 6, 7}) || e.Kind != KindMessage ||
					e.Error() != "SMTPUTF8 is required, but was not offered by host mx.test[127.0.0.1]" {
					t.Errorf("error %v %+v", e, e)
				}
				return
			}
			got := srv.be.messages()
			if len(got) != 1 {
				t.Fatalf("server got %d messages (err %v)", len(got), err)
			}
			if got[0].Mail.UTF8 != tc.wantParam {
				t.Errorf("SMTPUTF8 param %v, want %v", got[0].Mail.UTF8, tc.wantParam)
			}
			if want := cmp.Or(tc.wantFrom, from); got[0].From != want {
				t.Errorf("MAIL FROM:<%s>, want <%s>", got[0].From, want)
			}
			if want := cmp.Or(tc.wantRcpt, tc.rcpt); len(got[0].Rcpts) != 1 || got[0].Rcpts[0] != want {
				t.Errorf("RCPT TO %q, want <%s>", got[0].Rcpts, want)
			}
			if !strings.Contains(srv.rawString(), "BODY=8BITMIME") {
				t.Error("8-bit content sent without BODY=8BITMIME")
			}
		})
	}
}

func TestDSNParameters(t *testing.T) {
	m := msg("a@src.test", "x\r\n", "u@dst.test", "v@dst.test")
	m.Ret, m.EnvID = "HDRS", "q1+id=x"
	m.Recipients[0].Notify, m.Recipients[0].ORcpt = "success,failure", "Orig+1@dst.test"
	m.Recipients[1].Notify = "NEVER"

	srv := newFakeServer(t, func(s *smtp.Server, _ *backend) { s.EnableDSN = true })
	c := newClient(t, nil)
	if _, err := c.Deliver(context.Background(), srv.target(), m); err != nil {
		t.Fatal(err)
	}
	got := srv.be.messages()[0]
	if got.Mail.Return != smtp.DSNReturnHeaders || got.Mail.EnvelopeID != "q1+id=x" {
		t.Errorf("MAIL options %+v", got.Mail)
	}
	o := got.ROpts[0]
	if len(o.Notify) != 2 || o.Notify[0] != smtp.DSNNotifySuccess || o.Notify[1] != smtp.DSNNotifyFailure ||
		o.OriginalRecipientType != smtp.DSNAddressTypeRFC822 || o.OriginalRecipient != "Orig+1@dst.test" {
		t.Errorf("RCPT options %+v", o)
	}
	if n := got.ROpts[1].Notify; len(n) != 1 || n[0] != smtp.DSNNotifyNever {
		t.Errorf("NOTIFY %v", n)
	}
	if !strings.Contains(srv.rawString(), "ENVID=q1+2Bid+3Dx") {
		t.Errorf("ENVID not xtext-encoded: %q", srv.rawString())
	}

	// A peer without DSN gets no DSN parameters.
	plain := newFakeServer(t, nil)
	if _, err := c.Deliver(context.Background(), plain.target(), m); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"RET=", "ENVID=", "NOTIFY=", "ORCPT="} {
		if strings.Contains(plain.rawString(), p) {
			t.Errorf("%s sent to a peer without DSN", p)
		}
	}
}

func TestCanonicalContentOnTheWire(t *testing.T) {
	srv := newFakeServer(t, nil)
	c := newClient(t, nil)
	body := "Subject: x\n\na\n.\nb\r.\r\n..c\rd\r\n\n.\r\nQUIT"
	if _, err := c.Deliver(context.Background(), srv.target(), msg("a@src.test", body, "u@dst.test")); err != nil {
		t.Fatal(err)
	}
	raw := srv.rawString()
	_, data, ok := strings.Cut(raw, "DATA\r\n")
	if !ok {
		t.Fatalf("no DATA in %q", raw)
	}
	want := "Subject: x\r\n\r\na\r\n..\r\nb\r\n..\r\n...c\r\nd\r\n\r\n..\r\nQUIT\r\n.\r\n"
	if !strings.HasPrefix(data, want) {
		t.Errorf("wire data\n got %q\nwant %q", data, want)
	}
	got := srv.be.messages()[0].Data
	if string(got) != "Subject: x\r\n\r\na\r\n.\r\nb\r\n.\r\n..c\r\nd\r\n\r\n.\r\nQUIT\r\n" {
		t.Errorf("server stored %q", got)
	}
}

func TestChunking(t *testing.T) {
	srv := newFakeServer(t, nil)
	c := newClient(t, func(c *Config) { c.Chunking, c.ChunkSize = true, 16 })
	body := "Subject: x\n\n.line one\nline two is longer than a chunk\r\n"
	res, err := c.Deliver(context.Background(), srv.target(), msg("a@src.test", body, "u@dst.test", "v@dst.test"))
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, res, Delivered, Delivered)
	raw := srv.rawString()
	if strings.Count(raw, "BDAT ") < 3 || !strings.Contains(raw, " LAST\r\n") || strings.Contains(raw, "DATA\r\n") {
		t.Errorf("wire %q", raw)
	}
	if got := string(srv.be.messages()[0].Data); got != canonical(body) {
		t.Errorf("stored %q", got)
	}
}

func TestLMTPPerRecipientReplies(t *testing.T) {
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "lmtp"))
	if err != nil {
		t.Fatal(err)
	}
	srv := newFakeServerOn(t, ln, func(s *smtp.Server, b *backend) {
		s.LMTP = true
		b.lmtp = func(rcpt string) error {
			if rcpt == "full@dst.test" {
				return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "Mailbox full"}
			}
			return nil
		}
	})
	c := newClient(t, nil)
	tg := Target{Host: "lmtp.test", Network: "unix", Address: srv.addr, LMTP: true, TLS: TLSNone}
	for range 2 {
		res, err := c.Deliver(context.Background(), tg, msg("a@src.test", "x\n", "u@dst.test", "full@dst.test", "w@dst.test"))
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, res, Delivered, Deferred, Delivered)
		if e := res.Recipients[1].Err; e.Code != 452 || e.Stage != StageDataDone || !strings.Contains(e.Error(), "lmtp.test[") {
			t.Errorf("error %v", e)
		}
	}
	if !strings.Contains(srv.rawString(), "LHLO relay.test\r\n") || srv.accepted() != 1 {
		t.Errorf("LHLO missing or no reuse (%d connections)", srv.accepted())
	}
}

func TestGreetingAndHelo(t *testing.T) {
	ctx := context.Background()
	t.Run("4xx greeting", func(t *testing.T) {
		addr := scriptServer(t, "421 4.3.2 Service shutting down\r\n", basicScript(nil))
		c := newClient(t, nil)
		res, err := c.Deliver(ctx, Target{Host: "mx.test", Address: addr}, msg("a@src.test", "x", "u@dst.test"))
		e := asError(t, err)
		if e.Kind != KindGreeting || !e.NextAddress() || res.Established {
			t.Errorf("error %+v", e)
		}
		if want := "host mx.test[127.0.0.1] refused to talk to me: 421 4.3.2 Service shutting down"; e.Error() != want {
			t.Errorf("text %q", e.Error())
		}
		wantStatus(t, res, Deferred)
	})
	t.Run("5xx greeting", func(t *testing.T) {
		addr := scriptServer(t, "554 5.7.1 go away\r\n", basicScript(nil))
		c := newClient(t, nil)
		_, err := c.Deliver(ctx, Target{Host: "mx.test", Address: addr}, msg("a@src.test", "x", "u@dst.test"))
		if e := asError(t, err); !e.Temporary() || !e.NextAddress() || e.Code != 554 {
			t.Errorf("smtp_skip_5xx_greeting: %+v", e)
		}
		c2 := newClient(t, func(c *Config) { c.Bounce5xxGreeting = true })
		res, err := c2.Deliver(ctx, Target{Host: "mx.test", Address: addr}, msg("a@src.test", "x", "u@dst.test"))
		if e := asError(t, err); e.Temporary() {
			t.Errorf("Bounce5xxGreeting: %+v", e)
		}
		wantStatus(t, res, Failed)
	})
	t.Run("EHLO 5xx falls back to HELO", func(t *testing.T) {
		var saw []string
		addr := scriptServer(t, "220 old.test\r\n", basicScript(func(cmd string) (string, bool) {
			saw = append(saw, cmd)
			if strings.HasPrefix(cmd, "EHLO") {
				return "502 5.5.1 Error: command not implemented\r\n", true
			}
			return "", false
		}))
		c := newClient(t, nil)
		res, err := c.Deliver(ctx, Target{Host: "mx.test", Address: addr}, msg("a@src.test", "\xc3\xa9\n", "u@dst.test"))
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, res, Delivered)
		if len(saw) < 3 || saw[1] != "HELO relay.test" || saw[2] != "MAIL FROM:<a@src.test>" {
			t.Errorf("commands %q (no ESMTP parameters after HELO)", saw)
		}
	})
	t.Run("EHLO 4xx", func(t *testing.T) {
		addr := scriptServer(t, "220 x\r\n", basicScript(func(cmd string) (string, bool) {
			if strings.HasPrefix(cmd, "EHLO") {
				return "450 4.7.1 later\r\n", true
			}
			return "", false
		}))
		c := newClient(t, nil)
		_, err := c.Deliver(ctx, Target{Host: "mx.test", Address: addr}, msg("a@src.test", "x", "u@dst.test"))
		if e := asError(t, err); e.Kind != KindHelo || !e.NextAddress() || !strings.HasSuffix(e.Error(), "(in reply to EHLO command)") {
			t.Errorf("error %v", e)
		}
	})
	t.Run("malformed reply", func(t *testing.T) {
		addr := scriptServer(t, "220 x\r\n", basicScript(func(cmd string) (string, bool) {
			return "hello there\r\n", true
		}))
		c := newClient(t, nil)
		_, err := c.Deliver(ctx, Target{Host: "mx.test", Address: addr}, msg("a@src.test", "x", "u@dst.test"))
		if e := asError(t, err); e.Kind != KindLost || !e.NextAddress() || !errors.Is(err, ErrMalformedReply) {
			t.Errorf("error %v", e)
		}
	})
	t.Run("oversized reply", func(t *testing.T) {
		addr := scriptServer(t, "220 x\r\n", basicScript(func(cmd string) (string, bool) {
			return strings.Repeat("250-"+strings.Repeat("x", 1000)+"\r\n", 1000), true
		}))
		c := newClient(t, nil)
		_, err := c.Deliver(ctx, Target{Host: "mx.test", Address: addr}, msg("a@src.test", "x", "u@dst.test"))
		if !errors.Is(err, ErrMalformedReply) {
			t.Errorf("error %v", err)
		}
	})
}

func TestConnectFailureAndTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	c := newClient(t, func(c *Config) { c.Timeouts.Helo = 50 * time.Millisecond })
	res, err := c.Deliver(context.Background(), Target{Host: "mx.test", Address: dead}, msg("a@src.test", "x", "u@dst.test"))
	e := asError(t, err)
	if e.Kind != KindConnect || e.Enhanced != (EnhancedCode{4, 4, 1}) || !e.NextAddress() || e.Error() != "connect to mx.test[127.0.0.1]:"+port(dead)+": Connection refused" {
		t.Errorf("error %v %+v", e, e)
	}
	wantStatus(t, res, Deferred)

	silent := scriptServer(t, "", basicScript(nil)) // never greets
	_, err = c.Deliver(context.Background(), Target{Host: "mx.test", Address: silent}, msg("a@src.test", "x", "u@dst.test"))
	e = asError(t, err)
	if e.Kind != KindTimeout || e.Stage != StageGreeting || !e.NextAddress() {
		t.Errorf("error %+v", e)
	}
	if want := "conversation with mx.test[127.0.0.1] timed out while receiving the initial server greeting"; e.Error() != want {
		t.Errorf("text %q", e.Error())
	}
}

func TestCancelMidData(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	release := make(chan struct{})
	srv := newFakeServer(t, func(_ *smtp.Server, b *backend) {
		b.data = func(r io.Reader) error {
			io.ReadFull(r, make([]byte, 10))
			cancel() // the caller gives up while the message is in flight
			<-release
			return nil
		}
	})
	t.Cleanup(func() { close(release) })
	c := newClient(t, nil)
	body := strings.Repeat("0123456789abcdef\r\n", 1<<16) // > socket buffers
	res, err := c.Deliver(ctx, srv.target(), msg("a@src.test", body, "u@dst.test"))
	e := asError(t, err)
	if e.Kind != KindCanceled || !errors.Is(err, context.Canceled) || e.NextAddress() || !e.Temporary() {
		t.Errorf("error %v %+v", e, e)
	}
	wantStatus(t, res, Deferred)
	if c.Idle() != 0 {
		t.Error("canceled connection kept for reuse")
	}
}

// port returns the port of a "host:port" address.
func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// TLSMatch: the chain must verify and one entry must match, ".domain"
// meaning a name strictly under domain.
func TestVerifyMatch(t *testing.T) {
	cert, pool := peertest.Certificate(t, "a.sec.test", "*.wild.test")
	cs := tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert.Leaf}}
	for _, tt := range []struct {
		match []string
		roots *x509.CertPool
		ok    bool
	}{
		{[]string{"a.sec.test"}, pool, true},
		{[]string{"sec.test", ".sec.test"}, pool, true},
		{[]string{"sec.test"}, pool, false},
		{[]string{".a.sec.test"}, pool, false},
		{[]string{"A.SEC.TEST."}, pool, true},
		{[]string{"x.wild.test"}, pool, true},
		{[]string{"other.test", ""}, pool, false},
		{[]string{"a.sec.test"}, x509.NewCertPool(), false}, // untrusted chain
	} {
		err := verifyMatch(cs, tt.roots, tt.match)
		if (err == nil) != tt.ok {
			t.Errorf("match %q: %v", tt.match, err)
		}
		var cerr *tls.CertificateVerificationError
		if err != nil && !errors.As(err, &cerr) {
			t.Errorf("match %q: %T is not a CertificateVerificationError", tt.match, err)
		}
	}
	if verifyMatch(tls.ConnectionState{}, pool, []string{"a.sec.test"}) == nil {
		t.Error("no certificate accepted")
	}
}
