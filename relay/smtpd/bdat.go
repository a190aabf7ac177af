package smtpd

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
)

// BDAT (RFC 3030). The Session reads the message text from a bdatReader,
// in the engine's own goroutine: when a chunk is used up the reader
// acknowledges it and reads the next command itself, so that no other
// Session method runs while a message is being received.

// ErrAborted is what a Session reading a BDAT transfer gets when a
// command other than BDAT interrupted it (RSET, QUIT, a new EHLO): the
// message is dropped and the command then runs.
var ErrAborted = errors.New("smtpd: message transfer aborted")

// bdatArgs parses "count [LAST]"; ok is false for anything else.
func bdatArgs(arg string) (n int64, last, ok bool) {
	f := strings.Fields(arg)
	if len(f) < 1 || len(f) > 2 || len(f) == 2 && !strings.EqualFold(f[1], "LAST") || !allDigits(f[0]) {
		return 0, false, false
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	return n, len(f) == 2, err == nil
}

func (c *conn) bdatCmd(ctx context.Context, arg string) *Reply {
	if c.cfg.discarded("CHUNKING") {
		c.quit = true
		c.send(reply(521, "5.5.1", "Error: command not implemented"))
		return nil
	}
	n, last, ok := bdatArgs(arg)
	if !ok {
		// The chunk cannot be found in the stream: as Postfix, give up
		// on the session.
		c.quit = true
		c.send(reply(521, "5.5.4", "Syntax: BDAT count [LAST]"))
		return nil
	}
	if c.bdatDiscard {
		// An earlier chunk of this message was refused.
		r := c.dropChunk(n, reply(551, "5.0.0", "Discarded "+strconv.FormatInt(n, 10)+" bytes after earlier error"))
		if last {
			c.resetTransaction(ctx)
		}
		return r
	}
	if r := c.needRecipients(); r != nil {
		return c.dropChunk(n, r)
	}
	if n == 0 && !last {
		return reply(551, "5.7.1", "Null BDAT request")
	}
	if r := c.chunkTooBig(0, n); r != nil {
		return c.refuseTransfer(ctx, n, last, r)
	}
	if r := c.sess.Data(ctx); r != nil && r.Failed() {
		return c.refuseTransfer(ctx, n, last, r)
	}
	b := &bdatReader{c: c, ctx: ctx, remaining: n, chunk: n, last: last}
	r := c.sess.Message(ctx, b)
	switch {
	case errors.Is(b.err, errChunkRefused):
		// A later chunk was refused: the message is dropped.
		return c.refuseTransfer(ctx, b.refusedBytes, b.refusedLast, b.refusal)
	case errors.Is(b.err, ErrAborted):
		// A command ended the transfer: the message is dropped, and
		// the command runs now.
		c.resetTransaction(ctx)
		c.pending = b.pending // the serve loop runs it next
		return nil
	case b.err != nil:
		// The client went away or timed out: nothing was accepted.
		c.resetTransaction(ctx)
		c.quit = true
		if isTimeout(b.err) {
			c.send(reply(421, "4.4.2", c.cfg.Hostname+" Error: timeout exceeded"))
		}
		return nil
	case b.remaining > 0 || !b.last:
		// The Session stopped reading: it refused the message. The rest
		// of this chunk is read and dropped, later chunks are refused.
		if r == nil || !r.Failed() {
			r = reply(554, "5.5.0", "Error: message transfer ended early")
		}
		return c.refuseTransfer(ctx, b.remaining, b.last, r)
	}
	total := b.total
	if !b.endsLF && total > 0 {
		total += 2 // the last line gets its CR LF, as Postfix stores it
	}
	c.resetTransaction(ctx)
	if r == nil {
		r = reply(250, "2.0.0", "Ok")
	}
	if rest, ok := strings.CutPrefix(r.Text, "Ok: queued as "); ok && r.Code == 250 {
		// Postfix's BDAT wording: "250 2.0.0 Ok: 25 bytes queued as ID".
		r = reply(250, r.Enhanced, "Ok: "+strconv.FormatInt(total, 10)+" bytes queued as "+rest)
	}
	c.delivered(r)
	return r
}

// chunkTooBig refuses a chunk of n bytes after total when the message
// would pass SizeLimit ("552 5.3.4 Chunk exceeds message size limit").
func (c *conn) chunkTooBig(total, n int64) *Reply {
	if c.cfg.SizeLimit > 0 && n > c.cfg.SizeLimit-total {
		return reply(552, "5.3.4", "Chunk exceeds message size limit")
	}
	return nil
}

// refuseTransfer drops the n bytes of a refused chunk and answers r; the
// later chunks of the message are refused until LAST.
func (c *conn) refuseTransfer(ctx context.Context, n int64, last bool, r *Reply) *Reply {
	r = c.dropChunk(n, r)
	if c.quit {
		return r
	}
	if last {
		c.resetTransaction(ctx)
	} else {
		c.bdatDiscard = true
	}
	return r
}

// dropChunk reads and discards a chunk the engine refuses, so that the
// next command is read where it starts. A chunk larger than any message
// the server takes (twice SizeLimit, or maxDrop) is not read: the reply
// is sent and the session ends, as no client sends one in good faith.
func (c *conn) dropChunk(n int64, r *Reply) *Reply {
	if n > max(2*c.cfg.SizeLimit, maxDrop) {
		c.quit = true
		c.send(r)
		return nil
	}
	if _, err := io.CopyN(io.Discard, c.r, n); err != nil {
		c.quit = true
		return nil
	}
	return r
}

// maxDrop is the largest refused chunk read and dropped when SizeLimit
// is small or zero.
const maxDrop = 64 << 20

// bdatReader is the message text of a BDAT transfer as the Session reads
// it: the bytes of the chunks, across as many BDAT commands as the client
// sends, up to the one with LAST.
type bdatReader struct {
	c         *conn
	ctx       context.Context
	remaining int64 // bytes left in the current chunk
	chunk     int64 // the current chunk's size
	last      bool  // the current chunk is the last
	total     int64 // message bytes so far
	endsLF    bool  // the text so far ends with LF
	err       error // sticky: ErrAborted, errChunkRefused, or the connection's error
	pending   string

	refusal      *Reply // why a later chunk was refused
	refusedBytes int64  // its size, to drop
	refusedLast  bool   // it was the LAST one
}

// Read implements io.Reader.
func (b *bdatReader) Read(p []byte) (int, error) {
	for b.remaining == 0 {
		if b.err != nil {
			return 0, b.err
		}
		if b.last {
			return 0, io.EOF
		}
		if err := b.next(); err != nil {
			b.err = err
			return 0, err
		}
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.c.r.Read(p)
	if n > 0 {
		b.remaining -= int64(n)
		b.total += int64(n)
		b.endsLF = p[n-1] == '\n'
	}
	if err != nil {
		b.err = eof(err)
		return n, b.err
	}
	return n, nil
}

// errChunkRefused ends a transfer whose next chunk the engine refused
// (bdatReader.refusal says why): the message is dropped.
var errChunkRefused = errors.New("smtpd: chunk refused")

// next acknowledges the chunk just read and reads commands until the
// next BDAT. NOOP, ETRN, AUTH, unknown commands and commands that fail
// are answered as anywhere else; MAIL, RCPT and DATA are refused as
// Postfix refuses them during a transfer; RSET, QUIT, HELO/EHLO and
// STARTTLS end it (the message is dropped) and run after. Shutdown ends
// the wait with 421, as for an idle session.
func (b *bdatReader) next() error {
	c := b.c
	c.send(reply(250, "2.0.0", "Ok: "+strconv.FormatInt(b.chunk, 10)+" bytes"))
	for {
		if c.r.Buffered() == 0 {
			if err := c.flush(); err != nil {
				return err
			}
		}
		if b.ctx.Err() != nil {
			c.quit = true
			c.send(reply(421, "4.3.2", "Service shutting down"))
			return ErrAborted
		}
		if c.errors >= c.cfg.HardErrorLimit {
			c.quit = true
			c.send(reply(421, "4.7.0", c.cfg.Hostname+" Error: too many errors"))
			return ErrAborted
		}
		line, err := c.readCommand(b.ctx)
		if err != nil {
			if b.ctx.Err() != nil {
				c.quit = true
				c.send(reply(421, "4.3.2", "Service shutting down"))
				return ErrAborted
			}
			return err
		}
		verb, arg := splitVerb(line)
		name := ""
		if cmd := lookupCommand(verb); cmd != nil {
			name = cmd.name
		}
		arg = strings.Trim(arg, " \t")
		switch {
		case name == "BDAT":
			n, last, ok := bdatArgs(arg)
			if !ok {
				c.quit = true
				c.send(reply(521, "5.5.4", "Syntax: BDAT count [LAST]"))
				return ErrAborted
			}
			if n == 0 && !last {
				c.result(reply(551, "5.7.1", "Null BDAT request"))
				continue
			}
			if r := c.chunkTooBig(b.total, n); r != nil {
				// The message cannot be stored whole: it is dropped, and
				// the chunks up to LAST are refused.
				b.refusal, b.refusedBytes, b.refusedLast = r, n, last
				return errChunkRefused
			}
			b.remaining, b.chunk, b.last = n, n, last
			return nil
		case name == "MAIL" || name == "RCPT" || name == "DATA":
			c.result(reply(503, "5.5.1", "Error: "+name+" after BDAT"))
		case name == "RSET" && arg == "", name == "QUIT",
			(name == "HELO" || name == "EHLO") && arg != "",
			name == "STARTTLS" && arg == "" && c.cfg.TLS != nil && !c.tlsReady && !c.cfg.discarded("STARTTLS"):
			// These end the transaction: the message is dropped and the
			// command runs after.
			b.pending = line
			return ErrAborted
		case name == "VRFY":
			// Answered without the Session, which is busy receiving; a
			// junk command like any VRFY.
			c.countJunk()
			switch {
			case c.cfg.DisableVRFY:
				c.result(reply(502, "5.5.1", "VRFY command is disabled"))
			case arg == "":
				c.result(reply(501, "5.5.4", "Syntax: VRFY address [SMTPUTF8]"))
			default:
				c.send(reply(252, "2.0.0", arg))
			}
		default:
			// NOOP, ETRN (refused inside a transaction), AUTH, XCLIENT,
			// unknown commands, and the above with bad syntax: answered as
			// anywhere else.
			c.command(b.ctx, line)
			if c.quit {
				return io.ErrUnexpectedEOF
			}
		}
	}
}
