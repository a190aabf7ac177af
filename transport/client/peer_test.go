package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/emersion/go-smtp"
)

// countingConn counts the client's writes.
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// A long recipient list is pipelined in windows of at most
// pipelineWindow bytes, as Postfix's smtp_loop does (VSTREAM_BUFSIZE):
// a client that wrote every RCPT before reading any reply would deadlock
// with a peer that stops reading while its replies are not read. An
// in-memory pipe has no socket buffers, so the deadlock is certain there;
// over TCP it needs a list larger than the socket buffers.
func TestPipelineWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ln := newPipeListener()
		srv := newFakeServerOn(t, ln, nil)
		var writes atomic.Int64
		dial := DialerFunc(func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := ln.DialContext(ctx, network, addr)
			return &countingConn{Conn: conn, writes: &writes}, err
		})
		c, err := New(Config{Hostname: "relay.test", Dialer: dial})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var rcpts []string
		for i := range 400 {
			rcpts = append(rcpts, fmt.Sprintf("recipient-with-a-long-local-part-%04d@destination.example", i))
		}
		m := msg("a@src.test", "Subject: many\r\n\r\nhello\r\n", rcpts...)
		res, err := c.Deliver(context.Background(), Target{Host: "mx.test", Address: "pipe", TLS: TLSNone}, m)
		if err != nil {
			t.Fatal(err)
		}
		for i, rr := range res.Recipients {
			if rr.Status != Delivered {
				t.Fatalf("recipient %d: %v %v", i, rr.Status, rr.Err)
			}
		}
		got := srv.be.messages()
		if len(got) != 1 || len(got[0].Rcpts) != len(rcpts) {
			t.Fatalf("server got %d messages", len(got))
		}
		// Still pipelined: far fewer writes than the 402 commands.
		if n := writes.Load(); n > 20 {
			t.Errorf("%d writes for 400 recipients", n)
		}
	})
}

// Refusals inside a multi-window transaction keep the session in sync: a
// refused MAIL, refused RCPTs in every window, and the connection still
// serves the next message.
func TestPipelineWindowRefusals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ln := newPipeListener()
		srv := newFakeServerOn(t, ln, func(_ *smtp.Server, b *backend) {
			b.mail = func(from string) error {
				if from == "refused@src.test" {
					return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "sender refused"}
				}
				return nil
			}
			b.rcpt = func(to string) error {
				if strings.HasPrefix(to, "bad") {
					return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
				}
				return nil
			}
		})
		c, err := New(Config{Hostname: "relay.test", Dialer: ln})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		tg := Target{Host: "mx.test", Address: "pipe", TLS: TLSNone}
		var rcpts []string
		for i := range 300 {
			p := "good"
			if i%7 == 3 {
				p = "bad"
			}
			rcpts = append(rcpts, fmt.Sprintf("%s-recipient-with-a-long-local-part-%04d@destination.example", p, i))
		}
		res, err := c.Deliver(context.Background(), tg, msg("refused@src.test", "x\r\n", rcpts...))
		if e := asError(t, err); e.Kind != KindMail || e.Code != 550 {
			t.Fatalf("refused sender: %v", err)
		}
		for i, rr := range res.Recipients {
			if rr.Status != Failed {
				t.Fatalf("recipient %d after a refused MAIL: %v", i, rr.Status)
			}
		}
		for range 2 {
			res, err = c.Deliver(context.Background(), tg, msg("a@src.test", "x\r\n", rcpts...))
			if err != nil {
				t.Fatal(err)
			}
			if !res.Reused {
				t.Error("connection not reused: the session lost sync")
			}
			for i, rr := range res.Recipients {
				want := Delivered
				if strings.HasPrefix(rcpts[i], "bad") {
					want = Failed
				}
				if rr.Status != want {
					t.Fatalf("recipient %d: %v, want %v (%v)", i, rr.Status, want, rr.Err)
				}
			}
		}
		if got := srv.be.messages(); len(got) != 2 || len(got[0].Rcpts) != 300-43 {
			t.Fatalf("server stored %d messages", len(got))
		}
	})
}

// FuzzPeer lets an arbitrary peer answer a delivery: the fuzz input is
// everything the peer says, whatever the client sends (an early talker, a
// liar, a broken server). Under the default timeouts on synctest's fake
// clock, Deliver always returns; every recipient ends Delivered, Deferred
// or Failed, consistently with the reply or error that decided it; texts
// are safe to log and to quote in a bounce; nothing stays pooled after a
// failure; and no goroutine or connection outlives Close (synctest
// reports a leak as a deadlock).
func FuzzPeer(f *testing.F) {
	for _, s := range []string{
		"220 mx\r\n250 mx\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n",
		"220 mx\r\n250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n250 ok\r\n550 5.1.1 no\r\n250 ok\r\n250 ok\r\n250 queued\r\n",
		"220 mx\r\n250-mx\r\n250 PIPELINING\r\n250 ok\r\n250 ok\r\n450 4.2.0 later\r\n354 go\r\n250 2.0.0 queued\r\n",
		"220 mx\r\n250-mx\r\n250 STARTTLS\r\n220 go ahead\r\nnot tls\r\n",
		"220 lmtp\r\n250-lmtp\r\n250 PIPELINING\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n452 4.2.2 full\r\n",
		"220 mx\r\n250-mx\r\n250 SIZE 10\r\n",
		"421 4.3.2 busy\r\n", "554 5.7.1 go away\r\n", "220 mx\r\n502 no ehlo\r\n250 helo\r\n",
		"220 mx\r\n250 mx\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n421 4.4.2 bye\r\n",
		"220-mx\r\n220 mx\r\n250 mx\r\n550 5.7.1 sender\r\n",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, peer string, lmtp bool) {
		synctest.Test(t, func(t *testing.T) {
			ln := newPipeListener()
			var wg sync.WaitGroup
			wg.Go(func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				// Read and discard the commands; say the script regardless.
				wg.Go(func() { _, _ = io.Copy(io.Discard, c) })
				_, _ = io.WriteString(c, peer)
				// Then stay silent until the client hangs up.
				_, _ = c.Read(make([]byte, 1))
			})
			c, err := New(Config{Hostname: "relay.test", Dialer: ln, Chunking: true, ChunkSize: 16})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				c.Close()
				ln.Close()
				wg.Wait()
			}()
			m := msg("a@src.test", "Subject: fuzz\r\n\r\nline one\r\n.dot line\r\nline three\r\n", "u@dst.test", "v@dst.test")
			res, derr := c.Deliver(context.Background(), Target{Host: "mx.test", Address: "pipe", LMTP: lmtp}, m)
			if len(res.Recipients) != 2 {
				t.Fatalf("%d results", len(res.Recipients))
			}
			for i, rr := range res.Recipients {
				switch rr.Status {
				case Delivered:
					if !rr.Reply.Positive() || rr.Err != nil {
						t.Fatalf("recipient %d delivered with reply %v, err %v", i, rr.Reply, rr.Err)
					}
				case Deferred, Failed:
					// The status class always agrees with the outcome; a
					// failure always has a 5xx code (a deferral may quote a
					// 5xx greeting, smtp_skip_5xx_greeting).
					class := map[Status]int{Deferred: 4, Failed: 5}[rr.Status]
					if rr.Err == nil || rr.Err.Temporary() != (rr.Status == Deferred) || rr.Err.Enhanced[0] != class ||
						(rr.Status == Failed && rr.Err.Code/100 != 5) {
						t.Fatalf("recipient %d %v with error %v (%d %v)", i, rr.Status, rr.Err, rr.Err.Code, rr.Err.Enhanced)
					}
					if rr.Err.Reply != nil && rr.Status == Failed && !rr.Err.Reply.Permanent() {
						t.Fatalf("recipient %d failed on reply %v", i, rr.Err.Reply)
					}
					if txt := rr.Err.Error(); strings.ContainsAny(txt, "\r\n\x00") {
						t.Fatalf("unsafe error text %q", txt)
					}
				default:
					t.Fatalf("recipient %d left %v", i, rr.Status)
				}
			}
			if derr != nil && (res.Err == nil || !errors.Is(derr, res.Err)) && !errors.Is(derr, ErrClosed) {
				t.Fatalf("error %v, Result.Err %v", derr, res.Err)
			}
			if derr != nil && c.Idle() != 0 && res.Err.Kind != KindRcpt && res.Err.Kind != KindMail && res.Err.Kind != KindData && res.Err.Kind != KindMessage {
				t.Fatalf("connection pooled after %v", derr)
			}
		})
	})
}

// A deferral always carries a 4.x.x status, even when the reply that
// caused it carries another: a 5xx greeting skipped as Postfix does
// (smtp_skip_5xx_greeting: its status becomes 4.x.x), a 5xx refusal of
// STARTTLS under a mandatory policy, and a 2xx reply where 354 is due.
func TestDeferralStatusClass(t *testing.T) {
	for _, tc := range []struct {
		name     string
		greeting string
		replies  map[string]string
		tls      TLSLevel
		want     EnhancedCode
	}{
		{name: "5xx greeting", greeting: "554 5.7.1 go away\r\n", want: EnhancedCode{4, 7, 1}},
		{name: "5xx STARTTLS", replies: map[string]string{"EHLO": "250-peer.test\r\n250 STARTTLS\r\n", "STARTTLS": "554 5.7.3 no TLS for you\r\n"},
			tls: TLSMandatory, want: EnhancedCode{4, 7, 3}},
		{name: "250 to DATA", replies: map[string]string{"DATA": "250 2.0.0 what?\r\n"}, want: EnhancedCode{4, 5, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			greeting := tc.greeting
			if greeting == "" {
				greeting = "220 peer.test\r\n"
			}
			addr := scriptServer(t, greeting, basicScript(func(cmd string) (string, bool) {
				r, ok := tc.replies[strings.ToUpper(strings.SplitN(cmd, " ", 2)[0])]
				return r, ok
			}))
			c := newClient(t, nil)
			res, err := c.Deliver(context.Background(), Target{Host: "mx.test", Address: addr, TLS: tc.tls}, msg("a@src.test", "x\r\n", "u@dst.test"))
			e := asError(t, err)
			if !e.Temporary() || e.Enhanced != tc.want || e.Status() != tc.want.String() {
				t.Errorf("error %v: temporary %v, status %v, want %v", e, e.Temporary(), e.Enhanced, tc.want)
			}
			wantStatus(t, res, Deferred)
		})
	}
}
