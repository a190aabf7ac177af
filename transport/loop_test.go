package transport

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mxrelay/mxrelay/internal/peertest"
	"github.com/mxrelay/mxrelay/transport/client"
)

// selfPeer is a peer that calls itself name in its banner and EHLO reply,
// as a host that is really us would; it counts the MAIL commands it gets.
func selfPeer(t *testing.T, name string) (string, *atomic.Int32) {
	var mails atomic.Int32
	addr := peertest.Script(t, "220 "+name+" ESMTP\r\n", func(cmd string) string {
		switch verb, _, _ := strings.Cut(strings.ToUpper(cmd), " "); verb {
		case "EHLO":
			return "250-" + name + "\r\n250 PIPELINING\r\n"
		case "MAIL":
			mails.Add(1)
			return "250 2.1.0 Ok\r\n"
		case "RCPT", "RSET":
			return "250 2.0.0 Ok\r\n"
		case "DATA":
			return "354 go ahead\r\n"
		case ".":
			return "250 2.0.0 Ok: queued\r\n"
		}
		return ""
	})
	return addr, &mails
}

// The routing cases of the postfix-lab comparison (issue 18), against
// Postfix 3.7's answers: a next hop on port 25 that answers EHLO with our
// myhostname ("relay.test" here) is a mail loop (smtp_proto.c).

// A best MX that loops bounces the mail with 5.4.6; the backup MX is not
// tried.
func TestLoopAtBestMXBounces(t *testing.T) {
	e := newEnv(t, nil, nil)
	self, mails := selfPeer(t, "RELAY.test")
	backup := newPeer(t, &peer{})
	e.w.route("127.0.30.1:25", self)
	e.w.route("127.0.30.2:25", backup.addr)
	d := e.agent.Deliver(context.Background(), smtpRoute("loop.test"), message("u@loop.test"))
	wantRcpt(t, d.Recipients[0], client.Failed, 554, "5.4.6", "a.loop.test", "mail for loop.test loops back to myself")
	if d.Recipients[0].Text() != "mail for loop.test loops back to myself" {
		t.Errorf("reason %q repeats the status", d.Recipients[0].Text())
	}
	if got := triedHosts(d); !slices.Equal(got, []string{"127.0.30.1"}) {
		t.Errorf("tried %v, want the best MX only", got)
	}
	if mails.Load()+int32(len(backup.messages())) != 0 {
		t.Error("a message was sent")
	}
}

// A loop at a less preferred MX defers with 4.4.6 and moves on; when no
// MX is left the recipient stays deferred with that reason.
func TestLoopAtOtherMXTriesNext(t *testing.T) {
	e := newEnv(t, nil, nil)
	self, mails := selfPeer(t, "relay.test")
	third := newPeer(t, &peer{})
	e.w.route("127.0.31.2:25", self) // 127.0.31.1 refuses
	e.w.route("127.0.31.3:25", third.addr)
	d := e.agent.Deliver(context.Background(), smtpRoute("loop2.test"), message("u@loop2.test"))
	wantRcpt(t, d.Recipients[0], client.Delivered, 250, "2.0.0", "c.loop2.test", "said: 250")
	if got := triedHosts(d); !slices.Equal(got, []string{"127.0.31.1", "127.0.31.2", "127.0.31.3"}) {
		t.Errorf("tried %v", got)
	}

	e = newEnv(t, nil, nil)
	e.w.route("127.0.31.2:25", self)
	d = e.agent.Deliver(context.Background(), smtpRoute("loop3.test"), message("u@loop3.test"))
	wantRcpt(t, d.Recipients[0], client.Deferred, 451, "4.4.6", "b.loop2.test", "mail for loop3.test loops back to myself")
	if mails.Load() != 0 {
		t.Error("the looping peer got a message")
	}
}

// A [host] nexthop (relay:[ip]) loops on port 25 only, named as routed.
func TestLoopBracketedNexthopPort25Only(t *testing.T) {
	e := newEnv(t, nil, nil)
	self, _ := selfPeer(t, "relay.test")
	e.w.route("127.0.30.1:25", self)
	e.w.route("127.0.30.1:2525", self)
	d := e.agent.Deliver(context.Background(), smtpRoute("[127.0.30.1]"), message("u@loop.test"))
	wantRcpt(t, d.Recipients[0], client.Failed, 554, "5.4.6", "127.0.30.1", "mail for [127.0.30.1] loops back to myself")
	d = e.agent.Deliver(context.Background(), smtpRoute("[127.0.30.1]:2525"), message("u@loop.test"))
	wantRcpt(t, d.Recipients[0], client.Delivered, 250, "2.0.0", "127.0.30.1", "said: 250")
	// LMTP never detects loops.
	d = e.agent.Deliver(context.Background(), Route{Transport: "lmtp", Nexthop: "[127.0.30.1]:25"}, message("u@loop.test"))
	if d.Recipients[0].Enhanced() == "5.4.6" || d.Recipients[0].Enhanced() == "4.4.6" {
		t.Errorf("LMTP detected a loop: %+v", d.Recipients[0])
	}
}
