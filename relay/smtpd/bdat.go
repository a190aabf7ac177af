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
	err       error // sticky: ErrAborted, or the connection's error
	pending   string
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

// next acknowledges the chunk just read and reads commands until the
// next BDAT: NOOP is answered, MAIL, RCPT and DATA are refused as
// Postfix refuses them during a transfer, anything else ends it.
func (b *bdatReader) next() error {
	c := b.c
	c.send(reply(250, "2.0.0", "Ok: "+strconv.FormatInt(b.chunk, 10)+" bytes"))
	for {
		if c.r.Buffered() == 0 {
			if err := c.flush(); err != nil {
				return err
			}
		}
		if c.errors >= c.cfg.HardErrorLimit {
			b.pending = "QUIT" // ends the session with the error limit's 421
			c.quit = true
			c.send(reply(421, "4.7.0", c.cfg.Hostname+" Error: too many errors"))
			return ErrAborted
		}
		line, err := c.readLine(c.cfg.MaxLine)
		if err != nil {
			return err
		}
		verb, arg := splitVerb(line)
		switch strings.ToUpper(verb) {
		case "BDAT":
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
				if r := c.dropChunk(n, r); r != nil {
					c.result(r)
				}
				if c.quit {
					return io.ErrUnexpectedEOF
				}
				continue
			}
			b.remaining, b.chunk, b.last = n, n, last
			return nil
		case "MAIL", "RCPT", "DATA":
			c.result(reply(503, "5.5.1", "Error: "+strings.ToUpper(verb)+" after BDAT"))
		case "RSET", "QUIT", "HELO", "EHLO", "STARTTLS", "AUTH", "XCLIENT", "XFORWARD":
			// These end the transaction: the message is dropped and the
			// command runs after.
			b.pending = line
			return ErrAborted
		case "VRFY":
			// Answered without the Session, which is busy receiving.
			if c.cfg.DisableVRFY {
				c.result(reply(502, "5.5.1", "VRFY command is disabled"))
			} else {
				c.send(reply(252, "2.0.0", strings.TrimSpace(arg)))
			}
		default:
			// NOOP, ETRN (refused inside a transaction), unknown
			// commands: answered as anywhere else.
			c.command(b.ctx, line)
			if c.quit {
				return io.ErrUnexpectedEOF
			}
		}
	}
}
