package smtpd

import (
	"bufio"
	"bytes"
	"io"
)

// dotReader reads DATA message text from r (RFC 5321 section 4.5.2):
// it removes the leading dot of a line that starts with one and ends at
// the line ".", which it does not return. A line starts only after
// CR LF: the end is "\r\n.\r\n" and nothing else, so that a bare LF or CR
// never ends the message here while a next hop that reads line endings
// differently would end it (SMTP smuggling); the bare line endings are
// returned as they came, for the Session to refuse or repair.
type dotReader struct {
	r         *bufio.Reader
	pending   []byte // the rest of the current ReadSlice, not yet returned
	lineStart bool   // the next byte starts a line
	lastCR    bool   // the last byte returned was CR
	done      bool
	err       error
}

func newDotReader(r *bufio.Reader) *dotReader {
	return &dotReader{r: r, lineStart: true}
}

// Read implements io.Reader.
func (d *dotReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(d.pending) == 0 {
			if d.done {
				break
			}
			if d.err != nil {
				if n > 0 {
					return n, nil
				}
				return 0, d.err
			}
			if !d.fill() {
				continue
			}
		}
		k := copy(p[n:], d.pending)
		chunk := d.pending[:k]
		d.pending = d.pending[k:]
		n += k
		d.track(chunk)
	}
	if n == 0 && d.done {
		return 0, io.EOF
	}
	return n, nil
}

// fill reads the next piece of a line into pending, handling a line
// start: the end line, or a leading dot to remove. It reports whether
// pending has bytes.
func (d *dotReader) fill() bool {
	if d.lineStart {
		b, err := d.r.Peek(3)
		if len(b) >= 1 && b[0] == '.' {
			if len(b) == 3 && b[1] == '\r' && b[2] == '\n' {
				d.r.Discard(3)
				d.done = true
				return false
			}
			if err != nil && len(b) < 3 && bytes.HasPrefix([]byte(".\r\n"), b) {
				// A possible end line cut by EOF or an error.
				d.err = eof(err)
				return false
			}
			d.r.Discard(1) // dot-stuffing
		}
	}
	line, err := d.r.ReadSlice('\n')
	if err != nil && err != bufio.ErrBufferFull {
		d.err = eof(err)
	}
	d.pending = line
	d.lineStart = false
	return len(line) > 0
}

// track follows line boundaries in the bytes returned. A chunk comes from
// one ReadSlice, so only its last byte can be LF.
func (d *dotReader) track(chunk []byte) {
	if len(chunk) == 0 {
		return
	}
	last := chunk[len(chunk)-1]
	prevCR := d.lastCR
	if len(chunk) >= 2 {
		prevCR = chunk[len(chunk)-2] == '\r'
	}
	d.lineStart = last == '\n' && prevCR
	d.lastCR = last == '\r'
}

// eof turns the end of the connection inside DATA into an unexpected one.
func eof(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// drain discards the rest of the message text.
func (d *dotReader) drain() error {
	_, err := io.Copy(io.Discard, d)
	return err
}
