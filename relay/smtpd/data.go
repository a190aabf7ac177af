package smtpd

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
)

func (c *conn) dataCmd(ctx context.Context, arg string) *Reply {
	if c.bdat != nil {
		return reply(503, "5.5.1", "Error: DATA after BDAT")
	}
	if r := c.needRecipients(); r != nil {
		return r
	}
	if arg != "" {
		return reply(501, "5.5.4", "Syntax: DATA")
	}
	if r := c.sess.Data(ctx); r != nil && r.Failed() {
		return r
	}
	c.send(reply(354, "", "End data with <CR><LF>.<CR><LF>"))
	if err := c.flush(); err != nil {
		c.quit = true
		return nil
	}
	d := newDotReader(c.r)
	r := c.sess.Message(ctx, d)
	if err := d.drain(); err != nil {
		// The client went away or timed out inside DATA: nothing was
		// accepted, whatever the Session said.
		c.resetTransaction(ctx)
		c.quit = true
		if isTimeout(err) {
			c.send(reply(421, "4.4.2", c.cfg.Hostname+" Error: timeout exceeded"))
		}
		return nil
	}
	c.resetTransaction(ctx)
	if r == nil {
		r = reply(250, "2.0.0", "Ok")
	}
	c.delivered(r)
	return r
}

// delivered restarts the junk command count after a message is accepted,
// as Postfix's smtpd does.
func (c *conn) delivered(r *Reply) {
	if r.Code/100 == 2 {
		c.junk = 0
	}
}

// needRecipients refuses DATA and BDAT outside a transaction with an
// accepted recipient, with Postfix's replies.
func (c *conn) needRecipients() *Reply {
	switch {
	case !c.mail:
		return reply(503, "5.5.1", "Error: need RCPT command")
	case c.rcpts == 0:
		return reply(554, "5.5.1", "Error: no valid recipients")
	}
	return nil
}

// bdatState is a BDAT transfer (RFC 3030) in progress: the Session reads
// the chunks from a pipe, in a goroutine of its own, until LAST.
type bdatState struct {
	pw      *io.PipeWriter
	done    chan *Reply // the Session's final reply
	refused *Reply      // the transfer is refused: chunks are read and dropped
	total   int64       // message bytes so far
	endsLF  bool        // the text so far ends with LF
	ended   bool        // the Session's reply was taken from done
}

// errAborted tells a Session reading BDAT chunks that the transaction
// ended without LAST (RSET, a new EHLO, a lost connection).
var errAborted = errors.New("smtpd: message transfer aborted")

func (c *conn) bdatCmd(ctx context.Context, arg string) *Reply {
	f := strings.Fields(arg)
	if len(f) < 1 || len(f) > 2 || len(f) == 2 && !strings.EqualFold(f[1], "LAST") || !allDigits(f[0]) {
		// The chunk cannot be found in the stream: as Postfix, give up on
		// the session.
		c.quit = true
		c.send(reply(521, "5.5.4", "Syntax: BDAT count [LAST]"))
		return nil
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		c.quit = true
		c.send(reply(521, "5.5.4", "Syntax: BDAT count [LAST]"))
		return nil
	}
	last := len(f) == 2
	if r := c.needRecipients(); r != nil {
		return c.dropChunk(n, r)
	}
	if c.bdat == nil {
		c.startBDAT(ctx)
	}
	b := c.bdat
	if b.refused == nil && c.cfg.SizeLimit > 0 && b.total+n > c.cfg.SizeLimit {
		b.refused = reply(552, "5.3.4", "Chunk exceeds message size limit")
		c.abortBDAT()
	}
	if b.refused != nil {
		r := c.dropChunk(n, b.refused)
		if last {
			c.resetTransaction(ctx)
		}
		return r
	}
	b.total += n
	if err := c.copyChunk(b, n); err != nil {
		c.abortBDAT()
		c.quit = true
		return nil
	}
	if !last {
		select {
		case r := <-b.done:
			b.ended = true
			b.refused = r
			if r == nil || !r.Failed() {
				b.refused = reply(554, "5.5.0", "Error: message transfer ended early")
			}
			return b.refused
		default:
		}
		return reply(250, "2.0.0", "Ok: "+strconv.FormatInt(b.total, 10)+" bytes")
	}
	if !b.endsLF && b.total > 0 {
		b.total += 2 // the last line gets its CR LF, as Postfix stores it
	}
	b.pw.Close()
	r := <-b.done
	b.ended = true
	total := b.total
	c.bdat = nil
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

// copyChunk passes n bytes of message text to the Session; when the
// Session has stopped reading (it refused the message), the rest of the
// chunk is read and dropped. An error is the client's connection failing.
func (c *conn) copyChunk(b *bdatState, n int64) error {
	for n > 0 {
		p, err := c.r.Peek(int(min(n, int64(c.r.Size()))))
		if len(p) == 0 && err != nil {
			return err
		}
		if len(p) == 0 {
			continue
		}
		if b.pw != nil {
			if _, werr := b.pw.Write(p); werr != nil {
				b.pw = nil // the Session stopped reading
			}
		}
		b.endsLF = p[len(p)-1] == '\n'
		c.r.Discard(len(p))
		n -= int64(len(p))
	}
	return nil
}

// startBDAT starts the Session reading the chunks of a message.
func (c *conn) startBDAT(ctx context.Context) {
	if r := c.sess.Data(ctx); r != nil && r.Failed() {
		c.bdat = &bdatState{refused: r}
		return
	}
	pr, pw := io.Pipe()
	b := &bdatState{pw: pw, done: make(chan *Reply, 1)}
	c.bdat = b
	go func() {
		r := c.sess.Message(ctx, pr)
		pr.CloseWithError(io.ErrClosedPipe)
		b.done <- r
	}()
}

// abortBDAT ends a BDAT transfer without LAST and waits for the Session
// to let go of it, so that nothing else runs on the Session meanwhile.
func (c *conn) abortBDAT() {
	b := c.bdat
	if b == nil || b.done == nil || b.ended {
		return
	}
	if b.pw != nil {
		b.pw.CloseWithError(errAborted)
		b.pw = nil
	}
	<-b.done
	b.ended = true
}

// dropChunk reads and discards a chunk the engine refuses, so that the
// next command is read where it starts.
func (c *conn) dropChunk(n int64, r *Reply) *Reply {
	if _, err := io.CopyN(io.Discard, c.r, n); err != nil {
		c.quit = true
		return nil
	}
	return r
}
