package client

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
)

// A Probe ends after the RCPT replies, as Postfix's verify probes: the
// peer never sees DATA, accepted recipients are Delivered with the RCPT
// reply, refused ones fail or defer with theirs, and the connection is
// reset before it carries a real message.
func TestProbe(t *testing.T) {
	var datas, rsets atomic.Int32
	addr := scriptServer(t, "220 peer.test ESMTP\r\n", basicScript(func(cmd string) (string, bool) {
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			return "250-peer.test\r\n250 PIPELINING\r\n", true
		case strings.HasPrefix(cmd, "RCPT TO:<nobody@"):
			return "550 5.1.1 <nobody@dest.test>: User unknown\r\n", true
		case strings.HasPrefix(cmd, "RCPT TO:<later@"):
			return "450 4.2.0 try later\r\n", true
		case strings.HasPrefix(cmd, "RCPT"):
			return "250 2.1.5 Ok\r\n", true
		case cmd == "DATA":
			datas.Add(1)
		case cmd == "RSET":
			rsets.Add(1)
		}
		return "", false
	}))
	c := newClient(t, nil)
	tg := Target{Host: "mx.dest.test", Address: addr, TLS: TLSNone}
	m := &Message{From: "double-bounce@relay.test", Probe: true,
		Recipients: []Recipient{{Address: "user@dest.test"}, {Address: "nobody@dest.test"}, {Address: "later@dest.test"}}}
	res, err := c.Deliver(context.Background(), tg, m)
	if err != nil {
		t.Fatal(err)
	}
	r := res.Recipients
	if r[0].Status != Delivered || r[0].Reply.Code != 250 || r[1].Status != Failed || r[1].Reply.Code != 550 || r[2].Status != Deferred {
		t.Fatalf("probe results %+v", r)
	}
	if datas.Load() != 0 {
		t.Fatal("a probe sent DATA")
	}
	res, err = c.Deliver(context.Background(), tg, msg("s@src.test", "Subject: real\r\n\r\nx\r\n", "user@dest.test"))
	if err != nil || res.Recipients[0].Status != Delivered || !res.Reused {
		t.Fatalf("real message after a probe: %v %+v reused %v", err, res.Recipients[0], res.Reused)
	}
	if datas.Load() != 1 || rsets.Load() != 1 {
		t.Errorf("DATA %d, RSET %d: want 1 and 1 (the probe's transaction reset before reuse)", datas.Load(), rsets.Load())
	}
}
