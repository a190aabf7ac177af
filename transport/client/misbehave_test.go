package client

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// Markers a pipePeer reply may end with, after the text it writes.
const (
	hang       = "\x00hang"        // stop answering; read until the client closes
	die        = "\x00die"         // close the connection
	dieInData  = "\x00die-in-data" // read a little content, then close
	floodLine  = "\x00flood-line"  // one endless line without a line ending
	floodLines = "\x00flood-lines" // endless "250-" continuation lines
	garbageTLS = "\x00garbage-tls" // answer the TLS ClientHello with clear text
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
			wg.Go(func() { scripted(c, greeting, reply) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
}

// say writes out up to its marker and carries the marker's action out. It
// reports whether the dialogue goes on.
func say(c net.Conn, br *bufio.Reader, out string) bool {
	text, marker, _ := strings.Cut(out, "\x00")
	if _, err := io.WriteString(c, text); err != nil {
		return false
	}
	switch "\x00" + marker {
	case "\x00":
		return true
	case hang:
		_, _ = io.Copy(io.Discard, br)
	case dieInData:
		_, _ = br.Discard(100)
	case floodLine:
		chunk := []byte(strings.Repeat("x", 4096))
		for {
			if _, err := c.Write(chunk); err != nil {
				break
			}
		}
	case floodLines:
		chunk := []byte(strings.Repeat("250-"+strings.Repeat("k", 60)+"\r\n", 64))
		for {
			if _, err := c.Write(chunk); err != nil {
				break
			}
		}
	case garbageTLS:
		// Read the whole ClientHello record (an in-memory pipe has no
		// buffer to hold it), then answer in clear.
		hdr := make([]byte, 5)
		if _, err := io.ReadFull(br, hdr); err == nil {
			if _, err := br.Discard(int(hdr[3])<<8 | int(hdr[4])); err == nil {
				_, _ = io.WriteString(c, "this is not TLS\r\n")
			}
		}
		_, _ = io.Copy(io.Discard, br)
	}
	return false
}

func scripted(c net.Conn, greeting string, reply func(string) string) {
	defer c.Close()
	br := bufio.NewReader(c)
	if !say(c, br, greeting) {
		return
	}
	inData := false
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		if inData && line != "." {
			continue
		}
		inData = false
		out := reply(line)
		if strings.HasPrefix(out, "354") && !strings.Contains(out, "\x00") {
			inData = true
		}
		if !say(c, br, out) {
			return
		}
	}
}

// TestMisbehavingPeers runs the peers a relay meets on the Internet
// against the default Postfix timeouts (M13) on synctest's fake clock:
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
