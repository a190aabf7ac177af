package smtpd

import (
	"context"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"
)

// refusingSession stops reading a message at its first bare LF, as the
// relay does, and refuses it.
type refusingSession struct{ fakeSession }

func (s *refusingSession) Message(ctx context.Context, r io.Reader) *Reply {
	buf := make([]byte, 1)
	prev := byte(0)
	for {
		if _, err := r.Read(buf); err != nil {
			return reply(451, "4.3.0", "Error: "+err.Error())
		}
		if buf[0] == '\n' && prev != '\r' {
			return reply(550, "5.5.2", "Error: bare <LF> received")
		}
		prev = buf[0]
	}
}

// TestBDATSessionStopsEarly: a Session that refuses a message in the
// middle of a BDAT transfer gets no more of it; the rest of the chunk and
// the later chunks are read and dropped ("551 5.0.0 Discarded"), RCPT is
// refused until LAST, and no goroutine is left behind.
func TestBDATSessionStopsEarly(t *testing.T) {
	before := runtime.NumGoroutine()
	fs := &refusingSession{}
	s := NewServer(BackendFunc(func(ctx context.Context, c *Client) (Session, *Reply) { fs.cp = c; return fs, nil }), Config{Hostname: "mx", ErrorSleep: -1})
	nc, r := pipeServer(t, s)
	replies(t, r, 1)
	io.WriteString(nc, "EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n")
	replies(t, r, 3)
	io.WriteString(nc, "BDAT 20\r\nbare\nand more.......")
	io.WriteString(nc, "RCPT TO:<e@f>\r\nBDAT 5 LAST\r\nabcde")
	got := replies(t, r, 3)
	want := []string{"550 5.5.2 Error: bare <LF> received", "503 5.5.1 Error: RCPT after BDAT", "551 5.0.0 Discarded 5 bytes after earlier error"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q\nwant %q", got, want)
	}
	io.WriteString(nc, "MAIL FROM:<a@b>\r\nQUIT\r\n")
	if got := replies(t, r, 2); got[0] != "250 2.1.0 Ok" {
		t.Errorf("after the refused message: %q", got)
	}
	nc.Close()
	waitGoroutines(t, before)
}

// TestBDATAbortedByRSET: RSET between chunks drops the message (the
// Session's read fails with ErrAborted) and runs; QUIT in the middle of
// a transfer ends the session, with nothing left running.
func TestBDATAbortedByRSET(t *testing.T) {
	before := runtime.NumGoroutine()
	fs, nc, r, _ := dialEngine(t, Config{})
	replies(t, r, 1)
	io.WriteString(nc, "EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 3\r\nabcRSET\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 0\r\nBDAT 3\r\nxyzQUIT\r\n")
	got := replies(t, r, 9)
	want := []string{"250 CHUNKING", "250 2.1.0 Ok", "250 2.1.5 Ok", "250 2.0.0 Ok: 3 bytes", "250 2.0.0 Ok", "250 2.1.0 Ok", "250 2.1.5 Ok", "551 5.7.1 Null BDAT request", "250 2.0.0 Ok: 3 bytes"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if _, _, messages := fs.snapshot(); len(messages) != 0 {
		t.Errorf("aborted messages reached the Session's end: %q", messages)
	}
	nc.Close()
	waitGoroutines(t, before)
}

// TestBDATSizeOverflow: a chunk that would pass SizeLimit is read and
// refused, and the message with it: the later chunks are dropped ("551
// 5.0.0 Discarded") up to LAST, nothing is stored, and the next
// transaction starts clean. A chunk size near the int64 limit is refused
// without overflowing and, since it cannot be read, ends the session.
func TestBDATSizeOverflow(t *testing.T) {
	fs, nc, r, _ := dialEngine(t, Config{SizeLimit: 1000})
	replies(t, r, 1)
	io.WriteString(nc, "EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<old@d>\r\nBDAT 3\r\nabc")
	replies(t, r, 4)
	io.WriteString(nc, "BDAT 1000\r\n"+strings.Repeat("y", 1000)+"NOOP\r\nBDAT 3 LAST\r\nxyz")
	got := replies(t, r, 3)
	want := []string{"552 5.3.4 Chunk exceeds message size limit", "250 2.0.0 Ok", "551 5.0.0 Discarded 3 bytes after earlier error"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q\nwant %q", got, want)
	}
	// A LAST chunk too big ends the transaction too: the next one is new.
	io.WriteString(nc, "MAIL FROM:<a@b>\r\nRCPT TO:<old@d>\r\nBDAT 3\r\nabcBDAT 1000 LAST\r\n"+strings.Repeat("y", 1000))
	replies(t, r, 4)
	io.WriteString(nc, "MAIL FROM:<new@b>\r\nRCPT TO:<new@d>\r\nBDAT 5 LAST\r\nhello")
	got = replies(t, r, 3)
	if got[0] != "250 2.1.0 Ok" || got[2] != "250 2.0.0 Ok: 7 bytes queued as 1234" {
		t.Errorf("the transaction after a refused LAST chunk: %q", got)
	}
	if _, _, messages := fs.snapshot(); len(messages) != 1 || messages[0] != "hello" {
		t.Errorf("stored %q, want only the last message", messages)
	}
	io.WriteString(nc, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 1\r\nx")
	replies(t, r, 3)
	io.WriteString(nc, "BDAT 9223372036854775807\r\n")
	if got := replies(t, r, 1); got[0] != "552 5.3.4 Chunk exceeds message size limit" {
		t.Errorf("got %q", got)
	}
	if _, err := r.ReadString('\n'); err != io.EOF {
		t.Errorf("the session went on after a chunk it cannot read: %v", err)
	}
}

// TestErrorsForgivenAfterDelivery: a delivered message resets the error
// count, as Postfix's smtpd does, so that a long session with some
// refused recipients is not cut off.
func TestErrorsForgivenAfterDelivery(t *testing.T) {
	_, nc, r, _ := dialEngine(t, Config{HardErrorLimit: 3})
	replies(t, r, 1)
	io.WriteString(nc, "EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<bad@x>\r\nRCPT TO:<bad@y>\r\nRCPT TO:<c@d>\r\nDATA\r\n")
	replies(t, r, 6)
	io.WriteString(nc, "x\r\n.\r\nMAIL FROM:<a@b>\r\nRCPT TO:<bad@x>\r\nRCPT TO:<bad@y>\r\nRCPT TO:<c@d>\r\n")
	got := replies(t, r, 5)
	if got[4] != "250 2.1.5 Ok" {
		t.Errorf("second transaction: %q", got)
	}
}

// TestRequireTLSWithoutCertificate: smtpd_tls_security_level = encrypt
// without a usable certificate fails closed, as Postfix does.
func TestRequireTLSWithoutCertificate(t *testing.T) {
	_, nc, r, _ := dialEngine(t, Config{RequireTLS: true})
	replies(t, r, 1)
	io.WriteString(nc, "EHLO c\r\nMAIL FROM:<a@b>\r\nSTARTTLS\r\n")
	got := replies(t, r, 3)
	if got[1] != "530 5.7.0 Must issue a STARTTLS command first" || got[2] != "454 4.7.0 TLS not available due to local problem" {
		t.Errorf("got %q", got)
	}
}

// TestDiscardedKeywords: discarding DSN and CHUNKING in EHLO also turns
// the commands and parameters off, as in Postfix.
func TestDiscardedKeywords(t *testing.T) {
	_, nc, r, _ := dialEngine(t, Config{DiscardEHLOKeywords: []string{"dsn", "chunking"}})
	replies(t, r, 1)
	io.WriteString(nc, "EHLO c\r\nMAIL FROM:<a@b> RET=FULL\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d> NOTIFY=NEVER\r\nRCPT TO:<c@d>\r\nBDAT 1 LAST\r\nx")
	got := replies(t, r, 6)
	want := []string{"250 SMTPUTF8", "501 5.7.1 DSN support is disabled", "250 2.1.0 Ok", "501 5.7.1 DSN support is disabled", "250 2.1.5 Ok", "521 5.5.1 Error: command not implemented"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// TestPreGreetingTalk: a client that talks before the greeting is marked
// for reject_unauth_pipelining (Postfix: "improper command pipelining
// after CONNECT").
func TestPreGreetingTalk(t *testing.T) {
	fs := &fakeSession{}
	s := NewServer(BackendFunc(func(ctx context.Context, c *Client) (Session, *Reply) {
		fs.cp = c
		time.Sleep(100 * time.Millisecond) // the client's early bytes arrive meanwhile
		return fs, nil
	}), Config{Hostname: "mx", ErrorSleep: -1})
	nc, r := pipeServerTCP(t, s, "EHLO early\r\n")
	replies(t, r, 2)
	io.WriteString(nc, "MAIL FROM:<a@b>\r\n")
	replies(t, r, 1)
	if c, _, _ := fs.snapshot(); c.IllegalPipelining != "CONNECT" {
		t.Errorf("IllegalPipelining = %q, want CONNECT", c.IllegalPipelining)
	}
}

// TestReplyControlCharacters: what a reply echoes from the client cannot
// carry a line break.
func TestReplyControlCharacters(t *testing.T) {
	_, nc, r, _ := dialEngine(t, Config{})
	replies(t, r, 1)
	io.WriteString(nc, "EHLO c\r\nMAIL FROM:<a@b> X=1\x012\r\n")
	got := replies(t, r, 2)
	if got[1] != "555 5.5.4 Unsupported option: X=1?2" {
		t.Errorf("got %q", got)
	}
}

func waitGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines left running (%d before):\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

// TestBDATWaitBounded: between chunks, VRFY counts as a junk command and
// Shutdown ends the wait with 421, so a transfer cannot be held open.
func TestBDATWaitBounded(t *testing.T) {
	_, nc, r, _ := dialEngine(t, Config{JunkCommandLimit: 1, HardErrorLimit: 2})
	replies(t, r, 1)
	io.WriteString(nc, "EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 1\r\nx")
	replies(t, r, 4)
	var last string
	for range 10 {
		io.WriteString(nc, "VRFY u@d\r\n")
		got := replies(t, r, 1)
		if last = got[0]; strings.HasPrefix(last, "421") {
			break
		}
	}
	if last != "421 4.7.0 mx.example.net Error: too many errors" {
		t.Errorf("VRFY between chunks never hit the limit: last %q", last)
	}

	_, nc, r, cancel := dialEngine(t, Config{})
	replies(t, r, 1)
	io.WriteString(nc, "EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 1\r\nx")
	replies(t, r, 4)
	cancel()
	if got := replies(t, r, 1); got[0] != "421 4.3.2 Service shutting down" {
		t.Errorf("Shutdown between chunks: %q", got)
	}
}

// TestRefusedBDATSkipsChunk: a BDAT refused before it runs (TLS required)
// has its chunk read and dropped, not read as commands.
func TestRefusedBDATSkipsChunk(t *testing.T) {
	_, nc, r, _ := dialEngine(t, Config{RequireTLS: true})
	replies(t, r, 1)
	io.WriteString(nc, "EHLO c\r\nBDAT 10\r\nSubject:\r\nNOOP\r\n")
	got := replies(t, r, 3)
	if got[1] != "530 5.7.0 Must issue a STARTTLS command first" || got[2] != "250 2.0.0 Ok" {
		t.Errorf("got %q", got)
	}
}

// TestStressLimits: a session that starts while the server is stressed
// gets Postfix's stress limits: one error ends it.
func TestStressLimits(t *testing.T) {
	_, nc, r, _ := dialEngine(t, Config{HardErrorLimit: 20, Stressed: func() bool { return true }})
	replies(t, r, 1)
	io.WriteString(nc, "BOGUS\r\n")
	got := replies(t, r, 2)
	if got[1] != "421 4.7.0 mx.example.net Error: too many errors" {
		t.Errorf("got %q", got)
	}
}
