package client

import (
	"context"
	"fmt"
	"net"
	"strings"
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
