package postgres

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
)

// copyHeader starts PostgreSQL's binary COPY format: the signature, no
// flags, no header extension (PostgreSQL's COPY documentation, "Binary
// Format").
var copyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// copyTrailer ends a binary COPY stream: a field count of -1.
var copyTrailer = []byte{0xff, 0xff}

// bodyCopy is a message body as the binary COPY stream of its
// <prefix>bodies rows (id text, seq integer, data bytea), one row per
// chunk of at most chunkSize bytes, for COPY ... FROM STDIN: storeLarge
// streams a large body through it holding one chunk at a time. (An
// INSERT per chunk had pgx copy each chunk into protocol buffers that it
// allocates anew for every large message: about twice the body in
// total.)
type bodyCopy struct {
	ctx   context.Context
	id    string
	first []byte    // the first chunk, already read; nil once sent
	src   io.Reader // the chunks after it
	buf   []byte    // the chunk being sent
	head  []byte    // the header of the row being sent
	segs  [][]byte  // what Read returns next, in order
	seq   int32
	size  int64 // bytes of body sent
	begun bool
	eof   bool  // src is exhausted
	done  bool  // the trailer is queued
	err   error // why src or ctx ended the stream
}

func (c *bodyCopy) Read(p []byte) (int, error) {
	for len(c.segs) == 0 {
		if c.done {
			return 0, io.EOF
		}
		if err := c.next(); err != nil {
			c.err = err
			return 0, err
		}
	}
	n := copy(p, c.segs[0])
	if c.segs[0] = c.segs[0][n:]; len(c.segs[0]) == 0 {
		c.segs = c.segs[1:]
	}
	return n, nil
}

// next queues the header, the next row, or the trailer.
func (c *bodyCopy) next() error {
	if !c.begun {
		c.begun = true
		c.segs = append(c.segs, copyHeader)
		return nil
	}
	chunk := c.first
	if chunk != nil {
		c.first = nil
	} else {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		if c.buf == nil {
			c.buf = make([]byte, chunkSize)
		}
		n, err := io.ReadFull(c.src, c.buf)
		switch err {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			c.eof = true
		default:
			return fmt.Errorf("queue: reading body: %w", err)
		}
		chunk = c.buf[:n]
	}
	if len(chunk) > 0 {
		h := binary.BigEndian.AppendUint16(c.head[:0], 3) // fields
		h = binary.BigEndian.AppendUint32(h, uint32(len(c.id)))
		h = append(h, c.id...)
		h = binary.BigEndian.AppendUint32(h, 4)
		h = binary.BigEndian.AppendUint32(h, uint32(c.seq))
		h = binary.BigEndian.AppendUint32(h, uint32(len(chunk)))
		c.head = h
		c.segs = append(c.segs, h, chunk)
		c.seq++
		c.size += int64(len(chunk))
	}
	if c.eof {
		c.segs = append(c.segs, copyTrailer)
		c.done = true
	}
	return nil
}
