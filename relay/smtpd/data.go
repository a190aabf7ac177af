package smtpd

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
)

func (c *conn) dataCmd(ctx context.Context, arg string) *Reply {
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
	return r
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
	total   int64
}

// errAborted tells a Session reading BDAT chunks that the transaction
// ended without LAST (RSET, a new EHLO, a lost connection).
var errAborted = errors.New("smtpd: message transfer aborted")

func (c *conn) bdatCmd(ctx context.Context, arg string) *Reply {
	f := strings.Fields(arg)
	if len(f) < 1 || len(f) > 2 || len(f) == 2 && !strings.EqualFold(f[1], "LAST") || !allDigits(f[0]) {
		return reply(501, "5.5.4", "Syntax: BDAT count [LAST]")
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return reply(501, "5.5.4", "Syntax: BDAT count [LAST]")
	}
	last := len(f) == 2
	if r := c.needRecipients(); r != nil {
		return c.dropChunk(n, r)
	}
	if c.bdat == nil {
		c.startBDAT(ctx)
	}
	b := c.bdat
	b.total += n
	if b.refused != nil {
		r := c.dropChunk(n, b.refused)
		if last {
			c.resetTransaction(ctx)
		}
		return r
	}
	if _, err := io.CopyN(b.pw, c.r, n); err != nil {
		if !errors.Is(err, io.ErrClosedPipe) {
			c.abortBDAT()
			c.quit = true
			return nil
		}
		// The Session stopped reading (it refused the message): read the
		// rest of the chunk, and give its reply.
		if _, err := io.CopyN(io.Discard, c.r, n); err != nil {
			c.quit = true
			return nil
		}
	}
	if !last {
		select {
		case r := <-b.done:
			b.refused = r
			if r == nil || !r.Failed() {
				b.refused = reply(554, "5.5.0", "Error: message transfer ended early")
			}
			return b.refused
		default:
		}
		return reply(250, "2.0.0", "Ok: "+strconv.FormatInt(n, 10)+" bytes")
	}
	b.pw.Close()
	r := <-b.done
	c.bdat = nil
	c.resetTransaction(ctx)
	if r == nil {
		r = reply(250, "2.0.0", "Ok")
	}
	return r
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
// to let go of it.
func (c *conn) abortBDAT() {
	b := c.bdat
	if b == nil || b.pw == nil {
		return
	}
	b.pw.CloseWithError(errAborted)
	if b.refused == nil {
		<-b.done
	}
	b.pw = nil
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
