package maillog

import (
	"io"
	"os"
	"sync"
)

// BufferedOptions configure a Buffered writer. The zero value is ready to
// use.
type BufferedOptions struct {
	// Messages keeps each Write a write of its own on the underlying
	// writer, for a datagram socket where a write is one message (a
	// SyslogWriter). Otherwise the lines that arrived while the last
	// write ran go out in one write.
	Messages bool
	// Max is how many bytes may wait; a Write that would exceed it waits
	// for the writer (a log line is never dropped). Default 1 MiB.
	Max int
}

// Buffered is an io.WriteCloser that hands each Write to one goroutine
// writing to the underlying writer, so that the goroutines that log do
// not wait for the disk or for each other's write(2): a Write copies its
// bytes and returns. The lines go out in the order of the Writes, each
// Write's bytes together, with one write(2) for all the lines that came
// while the previous one ran. Close writes every line accepted before it,
// then stops the goroutine; lines Written before a process is killed may
// be lost, as with any buffered log.
//
// Handler writes each record in one Write, so a Buffered under a Handler
// (or under slog's text and JSON handlers) keeps records whole.
type Buffered struct {
	w        io.Writer
	messages bool
	max      int

	mu      sync.Mutex
	ready   sync.Cond // the goroutine: lines wait, or Close
	room    sync.Cond // writers: the goroutine took the lines
	buf     []byte    // lines waiting
	ends    []int     // end of each Write in buf (Messages)
	spare   []byte    // the goroutine's last buffer, reused
	spareE  []int
	closing bool
	err     error // first write error
	done    chan struct{}
}

// NewBuffered returns a Buffered writing to w, and starts its goroutine;
// Close stops it.
func NewBuffered(w io.Writer, o *BufferedOptions) *Buffered {
	if o == nil {
		o = &BufferedOptions{}
	}
	b := &Buffered{w: w, messages: o.Messages, max: o.Max, done: make(chan struct{})}
	if b.max <= 0 {
		b.max = 1 << 20
	}
	b.ready.L, b.room.L = &b.mu, &b.mu
	go b.run()
	return b
}

// Write queues p to be written. It fails with os.ErrClosed after Close.
// An error of the underlying writer does not stop the lines that follow
// (a syslog daemon may come back); Close returns the first.
func (b *Buffered) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.buf) > 0 && len(b.buf)+len(p) > b.max && !b.closing {
		b.room.Wait()
	}
	if b.closing {
		return 0, os.ErrClosed
	}
	b.buf = append(b.buf, p...)
	if b.messages {
		b.ends = append(b.ends, len(b.buf))
	}
	b.ready.Signal()
	return len(p), nil
}

// Close writes what waits, stops the goroutine and returns the first
// error of the underlying writer. It does not close the underlying
// writer.
func (b *Buffered) Close() error {
	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		<-b.done
		return os.ErrClosed
	}
	b.closing = true
	b.ready.Signal()
	b.room.Broadcast()
	b.mu.Unlock()
	<-b.done
	return b.err
}

func (b *Buffered) run() {
	defer close(b.done)
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		for len(b.buf) == 0 && !b.closing {
			b.ready.Wait()
		}
		if len(b.buf) == 0 {
			return
		}
		buf, ends := b.buf, b.ends
		b.buf, b.ends = b.spare[:0], b.spareE[:0]
		b.room.Broadcast()
		b.mu.Unlock()
		err := b.write(buf, ends)
		b.mu.Lock()
		b.spare, b.spareE = buf, ends
		if err != nil && b.err == nil {
			b.err = err
		}
	}
}

// write writes buf: whole, or each message of it (Messages).
func (b *Buffered) write(buf []byte, ends []int) error {
	if !b.messages {
		_, err := b.w.Write(buf)
		return err
	}
	var first error
	start := 0
	for _, end := range ends {
		if _, err := b.w.Write(buf[start:end]); err != nil && first == nil {
			first = err
		}
		start = end
	}
	return first
}
