package smtpd

import (
	"context"
	"fmt"
	"testing"
)

// TestRefusingGreeting: a Backend that returns a Session with a Reply
// greets with the Reply and keeps the session (what smtpd.c does after a
// milter rejects CONNECT); the greeting counts as an error. Without a
// Session the Reply ends the connection.
func TestRefusingGreeting(t *testing.T) {
	fs := &fakeSession{}
	s := NewServer(BackendFunc(func(ctx context.Context, c *Client) (Session, *Reply) {
		fs.cp = c
		return fs, reply(554, "", "mx.example.net ESMTP not accepting connections")
	}), Config{Hostname: "mx.example.net", ErrorSleep: -1, HardErrorLimit: 2})
	nc, r := pipeServer(t, s)
	if got := replies(t, r, 1)[0]; got != "554 mx.example.net ESMTP not accepting connections" {
		t.Fatalf("greeting %q", got)
	}
	fmt.Fprintf(nc, "EHLO client.test\r\n")
	if got := replies(t, r, 1)[0]; got != "250 CHUNKING" {
		t.Errorf("EHLO after the refusing greeting: %q", got)
	}
	// The greeting was one error: one more reaches the hard limit of 2.
	fmt.Fprintf(nc, "BOGUS\r\n")
	fmt.Fprintf(nc, "NOOP\r\n")
	got := replies(t, r, 2)
	if got[0] != "500 5.5.2 Error: command not recognized" || got[1] != "421 4.7.0 mx.example.net Error: too many errors" {
		t.Errorf("after one more error: %q", got)
	}

	s = NewServer(BackendFunc(func(ctx context.Context, c *Client) (Session, *Reply) {
		return nil, reply(421, "4.7.0", "mx.example.net Error: too many connections")
	}), Config{Hostname: "mx.example.net"})
	_, r = pipeServer(t, s)
	if got := replies(t, r, 1)[0]; got != "421 4.7.0 mx.example.net Error: too many connections" {
		t.Errorf("refusal %q", got)
	}
	if _, err := r.ReadString('\n'); err == nil {
		t.Error("the connection stays open after a refusal without a Session")
	}
}
