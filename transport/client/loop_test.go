package client

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
)

// loopScript is a peer that gives ehloName in its EHLO reply and counts
// the MAIL commands it sees.
func loopScript(t *testing.T, ehloName string, mails *atomic.Int32) string {
	return scriptServer(t, "220 "+ehloName+" ESMTP\r\n", basicScript(func(cmd string) (string, bool) {
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			return "250-" + ehloName + "\r\n250 PIPELINING\r\n", true
		case strings.HasPrefix(cmd, "MAIL"):
			mails.Add(1)
		}
		return "", false
	}))
}

// A peer on port 25 that answers EHLO with our myhostname is this host:
// at a best MX the recipients bounce with 5.4.6, elsewhere they are
// deferred with 4.4.6 for the next address; nothing is sent (Postfix
// smtp_proto.c). The comparison ignores case, as Postfix's strcasecmp.
func TestLoopDetectedAtEHLO(t *testing.T) {
	for _, tc := range []struct {
		name      string
		best      bool
		status    Status
		enhanced  string
		temporary bool
	}{
		{"best MX", true, Failed, "5.4.6", false},
		{"other MX", false, Deferred, "4.4.6", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mails atomic.Int32
			addr := loopScript(t, "MX2.Example.TEST", &mails)
			c := newClient(t, func(cfg *Config) { cfg.Hostname, cfg.MyHostname = "helo.example.test", "mx2.example.test" })
			tg := Target{Host: "mx1.dest.test", Address: addr, TLS: TLSNone, LoopDetect: true, BestMX: tc.best, Nexthop: "dest.test"}
			res, err := c.Deliver(context.Background(), tg, msg("s@src.test", "x\r\n", "u@dest.test"))
			e := asError(t, err)
			if e.Kind != KindLoop {
				t.Fatalf("err = %v (kind %v), want a KindLoop error", err, e.Kind)
			}
			if e.Error() != "mail for dest.test loops back to myself" || e.Status() != tc.enhanced || e.Temporary() != tc.temporary || e.NextAddress() != tc.temporary {
				t.Fatalf("error %q status %s temporary %v next address %v", e.Error(), e.Status(), e.Temporary(), e.NextAddress())
			}
			if r := res.Recipients[0]; r.Status != tc.status || r.Err == nil || r.Err.Host != "mx1.dest.test" {
				t.Fatalf("recipient %+v", r)
			}
			if n := mails.Load(); n != 0 {
				t.Fatalf("the looping peer got %d MAIL commands", n)
			}
		})
	}
}

// Without LoopDetect (a port other than 25, LMTP), and for a peer that
// only speaks HELO, the peer's name is not checked, as in Postfix; a
// Config without MyHostname compares with Hostname.
func TestLoopNotChecked(t *testing.T) {
	var mails atomic.Int32
	addr := loopScript(t, "relay.test", &mails)
	c := newClient(t, nil) // Hostname relay.test, MyHostname defaults to it
	res, err := c.Deliver(context.Background(), Target{Host: "h", Address: addr, TLS: TLSNone, BestMX: true},
		msg("s@src.test", "x\r\n", "u@dest.test"))
	if err != nil || res.Recipients[0].Status != Delivered {
		t.Fatalf("without LoopDetect: %v %+v", err, res.Recipients[0])
	}
	res, err = c.Deliver(context.Background(), Target{Host: "h", Address: addr, TLS: TLSNone, LoopDetect: true, BestMX: true},
		msg("s@src.test", "x\r\n", "u@dest.test"))
	if err == nil || res.Recipients[0].Status != Failed {
		t.Fatalf("MyHostname must default to Hostname: %v %+v", err, res.Recipients[0])
	}

	heloOnly := scriptServer(t, "220 relay.test\r\n", basicScript(func(cmd string) (string, bool) {
		if strings.HasPrefix(cmd, "EHLO") {
			return "502 5.5.1 EHLO not supported\r\n", true
		}
		return "", false
	}))
	res, err = c.Deliver(context.Background(), Target{Host: "h", Address: heloOnly, TLS: TLSNone, LoopDetect: true, BestMX: true},
		msg("s@src.test", "x\r\n", "u@dest.test"))
	if err != nil || res.Recipients[0].Status != Delivered {
		t.Fatalf("HELO peer: %v %+v", err, res.Recipients[0])
	}
}

// A cached connection opened without loop detection is checked again when
// it is reused for a target that asks for it.
func TestLoopCheckedOnReuse(t *testing.T) {
	var mails atomic.Int32
	addr := loopScript(t, "relay.test", &mails)
	c := newClient(t, nil)
	tg := Target{Host: "h", Address: addr, TLS: TLSNone}
	if _, err := c.Deliver(context.Background(), tg, msg("s@src.test", "x\r\n", "u@dest.test")); err != nil {
		t.Fatal(err)
	}
	tg.LoopDetect, tg.BestMX, tg.Nexthop = true, true, "[h]"
	res, err := c.Deliver(context.Background(), tg, msg("s@src.test", "x\r\n", "u@dest.test"))
	if err == nil || err.Error() != "mail for [h] loops back to myself" || res.Recipients[0].Status != Failed {
		t.Fatalf("reused connection: %v %+v", err, res.Recipients[0])
	}
	if n := mails.Load(); n != 1 {
		t.Fatalf("MAIL commands: %d, want 1 (the first delivery only)", n)
	}
}

// firstWord takes the peer's name as Postfix's smtp_proto.c splits the
// first reply line.
func TestFirstWord(t *testing.T) {
	for in, want := range map[string]string{
		"mx.example.test Hello": "mx.example.test", "mx.example.test": "mx.example.test",
		"  mx.example.test\tESMTP": "mx.example.test", "name=x": "name", "": "",
	} {
		if got := firstWord(Reply{Code: 250, Lines: []string{in}}); got != want {
			t.Errorf("firstWord(%q) = %q, want %q", in, got, want)
		}
	}
	if got := firstWord(Reply{Code: 250}); got != "" {
		t.Errorf("no lines: %q", got)
	}
}
