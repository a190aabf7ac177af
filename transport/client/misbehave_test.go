package client

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mxrelay/mxrelay/internal/peertest"
)

// The misbehaviours of peertest, by short names.
const (
	hang       = peertest.Hang
	die        = peertest.Die
	dieInData  = peertest.DieInData
	floodLine  = peertest.FloodLine
	floodLines = peertest.FloodLines
	garbageTLS = peertest.GarbageTLS
)

// pipePeer serves scripted SMTP on ln inside a synctest bubble: greeting
// first, then reply(cmd) for each command line and for the "." that ends
// the content. Every handler returns once the client closes its end, so a
// connection the client leaks leaves a goroutine blocked forever, which
// synctest.Test reports as a deadlock: the leak check of these tests.
func pipePeer(t *testing.T, ln *pipeListener, greeting string, reply func(cmd string) string) {
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { peertest.Serve(c, greeting, reply) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
}

// TestMisbehavingPeers runs the peers a relay meets on the Internet
// against the default Postfix smtp_*_timeout values on synctest's fake clock:
// every case ends in a deferral that names the stage, offers the
// recipients to the next address, keeps nothing in the pool and leaks no
// goroutine or connection.
func TestMisbehavingPeers(t *testing.T) {
	ehlo := "250-peer.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n"
	for _, tc := range []struct {
		name     string
		greeting string
		replies  map[string]string // verb → reply; others as basicScript
		tls      TLSLevel
		kind     Kind
		stage    Stage
		wait     time.Duration // fake time until the failure: the stage timeout
		malform  bool          // wraps ErrMalformedReply
		plainOK  bool          // RetryWithoutTLS
		text     string
	}{
		{name: "silent greeting", greeting: hang, kind: KindTimeout, stage: StageGreeting, wait: 300 * time.Second,
			text: "conversation with mx.test[pipe] timed out while receiving the initial server greeting"},
		{name: "silent EHLO", replies: map[string]string{"EHLO": hang}, kind: KindTimeout, stage: StageEHLO, wait: 300 * time.Second},
		{name: "silent STARTTLS", replies: map[string]string{"EHLO": ehlo, "STARTTLS": hang}, tls: TLSMandatory,
			kind: KindTimeout, stage: StageStartTLS, wait: 300 * time.Second},
		{name: "silent MAIL", replies: map[string]string{"MAIL": hang}, kind: KindTimeout, stage: StageMail, wait: 300 * time.Second},
		{name: "silent RCPT", replies: map[string]string{"RCPT": hang}, kind: KindTimeout, stage: StageRcpt, wait: 300 * time.Second},
		{name: "silent DATA", replies: map[string]string{"DATA": hang}, kind: KindTimeout, stage: StageData, wait: 120 * time.Second},
		{name: "silent end of data", replies: map[string]string{".": hang}, kind: KindTimeout, stage: StageDataDone, wait: 600 * time.Second,
			text: "conversation with mx.test[pipe] timed out while sending end of data -- message may be sent more than once"},
		{name: "dies at greeting", greeting: die, kind: KindLost, stage: StageGreeting},
		{name: "dies at RCPT", replies: map[string]string{"RCPT": die}, kind: KindLost, stage: StageRcpt},
		{name: "dies in DATA", replies: map[string]string{"DATA": "354 go ahead\r\n" + dieInData}, kind: KindLost, stage: StageBody,
			text: "lost connection with mx.test[pipe] while sending message body"},
		{name: "dies after end of data", replies: map[string]string{".": die}, kind: KindLost, stage: StageDataDone},
		{name: "garbage greeting", greeting: "SSH-2.0-OpenSSH_9.6\r\n", kind: KindLost, stage: StageGreeting, malform: true},
		{name: "garbage RCPT reply", replies: map[string]string{"RCPT": "250 ok\r\n\x01\x02\x03\r\n"}, kind: KindLost, stage: StageRcpt, malform: true},
		{name: "endless line", replies: map[string]string{"EHLO": "250-" + floodLine}, kind: KindLost, stage: StageEHLO, malform: true},
		{name: "endless reply", replies: map[string]string{"EHLO": floodLines}, kind: KindLost, stage: StageEHLO, malform: true},
		{name: "too many EHLO keywords", replies: map[string]string{"EHLO": strings.Repeat("250-X-KEYWORD\r\n", MaxReplyLines) + "250 SIZE\r\n"},
			kind: KindLost, stage: StageEHLO, malform: true},
		{name: "TLS handshake failure, may", replies: map[string]string{"EHLO": ehlo, "STARTTLS": "220 2.0.0 Ready\r\n" + garbageTLS},
			kind: KindTLS, stage: StageStartTLS, plainOK: true},
		{name: "TLS handshake failure, encrypt", replies: map[string]string{"EHLO": ehlo, "STARTTLS": "220 2.0.0 Ready\r\n" + garbageTLS},
			tls: TLSMandatory, kind: KindTLS, stage: StageStartTLS},
		{name: "silent TLS handshake", replies: map[string]string{"EHLO": ehlo, "STARTTLS": "220 2.0.0 Ready\r\n" + hang},
			tls: TLSMandatory, kind: KindTLS, stage: StageStartTLS, wait: 300 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ln := newPipeListener()
				greeting := tc.greeting
				if greeting == "" {
					greeting = "220 peer.test ESMTP\r\n"
				}
				pipePeer(t, ln, greeting, basicScript(func(cmd string) (string, bool) {
					verb := strings.ToUpper(strings.SplitN(cmd, " ", 2)[0])
					if verb == "EHLO" && tc.replies["EHLO"] == "" {
						return "250-peer.test\r\n250 PIPELINING\r\n", true
					}
					r, ok := tc.replies[verb]
					return r, ok
				}))
				c, err := New(Config{Hostname: "relay.test", Dialer: ln})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				body := strings.Repeat("Some content line.\r\n", 2000)
				start := time.Now()
				res, err := c.Deliver(context.Background(), Target{Host: "mx.test", Address: "pipe", TLS: tc.tls},
					msg("a@src.test", body, "u@dst.test", "v@dst.test"))
				// On the fake clock, the wait is exactly the stage's timeout.
				if waited := time.Since(start); waited != tc.wait {
					t.Errorf("failed after %v, want %v", waited, tc.wait)
				}
				e := asError(t, err)
				if e.Kind != tc.kind || e.Stage != tc.stage || !e.Temporary() || !e.NextAddress() || e.Code/100 != 4 {
					t.Errorf("error %v: kind %v stage %v code %d %s", e, e.Kind, e.Stage, e.Code, e.Enhanced)
				}
				if errors.Is(err, ErrMalformedReply) != tc.malform {
					t.Errorf("malformed reply: %v", err)
				}
				if e.RetryWithoutTLS() != tc.plainOK {
					t.Errorf("RetryWithoutTLS %v", e.RetryWithoutTLS())
				}
				if tc.text != "" && e.Error() != tc.text {
					t.Errorf("text %q, want %q", e.Error(), tc.text)
				}
				wantStatus(t, res, Deferred, Deferred)
				if res.Pending() == nil || len(res.Pending()) != 2 {
					t.Errorf("pending %v", res.Pending())
				}
				if c.Idle() != 0 {
					t.Errorf("%d idle connections after a failure", c.Idle())
				}
			})
		})
	}
}

// A cached connection found too old at checkout is closed in the
// background: an LMTP QUIT waits for its reply (Timeouts.Quit), and a peer
// that no longer answers must not hold up the next delivery.
func TestExpiredConnectionClosedInBackground(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ln := newPipeListener()
		pipePeer(t, ln, "220 lmtp.test LMTP\r\n", basicScript(func(cmd string) (string, bool) {
			switch {
			case strings.HasPrefix(cmd, "LHLO"):
				return "250-lmtp.test\r\n250 PIPELINING\r\n", true
			case cmd == "QUIT":
				return hang, true
			}
			return "", false
		}))
		c, err := New(Config{Hostname: "relay.test", Dialer: ln, IdleTimeout: time.Hour, MaxReuseTime: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		tg := Target{Host: "lmtp.test", Address: "pipe", LMTP: true}
		if _, err := c.Deliver(context.Background(), tg, msg("a@src.test", "x\r\n", "u@dst.test")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Minute) // the idle connection is now too old to reuse
		start := time.Now()
		res, err := c.Deliver(context.Background(), tg, msg("a@src.test", "y\r\n", "u@dst.test"))
		if err != nil || res.Reused {
			t.Fatalf("err %v, reused %v", err, res.Reused)
		}
		// On the fake clock: the delivery did not wait for the old
		// connection's QUIT reply.
		if waited := time.Since(start); waited != 0 {
			t.Errorf("delivery waited %v for an expired connection to close", waited)
		}
	})
}
