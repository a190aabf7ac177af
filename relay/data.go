package relay

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// BareLineEnding says what DATA does with a CR or LF that is not part of a
// CRLF pair.
type BareLineEnding int

const (
	// BareReject refuses the message with "550 5.5.2 Error: bare <LF>
	// received" (or <CR>). This is the default: a bare LF or CR is how
	// SMTP smuggling hides a second message ("\n.\n", "\r.\r\n") that a
	// next hop reading line endings differently would deliver separately.
	// Postfix 3.7 accepts bare LF by default (smtpd_forbid_bare_newline =
	// no) and passes bare CR through; refusing both is deliberately
	// stricter. A NUL character is refused too ("550 5.6.0 Error: NUL
	// character in message"): Postfix passes it on, and a next hop that
	// drops NULs would read "CRLF NUL . CRLF" as the end of the message.
	BareReject BareLineEnding = iota
	// BareNormalize turns every bare CR and bare LF into CRLF, and drops
	// NUL characters (refused by BareReject: a next hop that drops NULs
	// could see an end of message where there is none), as
	// Postfix 3.9's "smtpd_forbid_bare_newline = normalize" does for LF.
	// The stored message then has only CRLF line endings, so the next hop
	// sees a "." line as data (the client dot-stuffs it), never as the
	// end of the message.
	BareNormalize
)

// DataLimits are the checks DATA applies while the message streams into
// the queue.
type DataLimits struct {
	// MaxSize is the largest message accepted, in bytes of the stored
	// message. Zero: no limit. Postfix message_size_limit (10240000).
	MaxSize int64
	// MaxHops is the largest number of Received: header fields accepted.
	// Zero: no limit. Postfix hopcount_limit (50).
	MaxHops int
	// Bare says what to do with bare CR and LF. Default BareReject.
	Bare BareLineEnding
}

// dataReader reads a message as go-smtp hands it over (dot-unstuffed,
// without the final "."), and returns it with CRLF line endings only,
// failing with a typed *Error when the message breaks a DataLimits rule.
// The error comes from Read, so a queue Store that reads it aborts and
// keeps nothing.
type dataReader struct {
	r   *bufio.Reader
	lim DataLimits

	n        int64 // bytes returned so far
	pendCR   bool  // a CR was read, the next byte decides
	lineLen  int   // bytes in the current output line so far
	inHeader bool
	hdr      headerScan
	hops     int
	msgID    []byte // the first Message-ID header's value, as read (capped)
	inMsgID  bool   // the bytes of this line are the Message-ID's value
	// headerDone, when set, is called once at the end of the header with
	// MessageID, as Postfix's cleanup logs "message-id=" then.
	headerDone func(messageID string)
	err        error
	eof        bool
	out        [2]byte // pending output (the LF of a CRLF)
	outN       int
}

func newDataReader(r io.Reader, lim DataLimits) *dataReader {
	return &dataReader{r: bufio.NewReaderSize(r, 8*1024), lim: lim, inHeader: true}
}

// maxMessageID caps the Message-ID kept for the log: the client chose it.
const maxMessageID = 250

// MessageID returns the value of the message's first Message-ID header,
// blanks around it removed, or "" when it has none (Postfix's cleanup logs
// it as "message-id=<...>").
func (d *dataReader) MessageID() string {
	return string(bytes.Trim(d.msgID, " \t"))
}

// endHeader marks the end of the header.
func (d *dataReader) endHeader() {
	d.inHeader = false
	if d.headerDone != nil {
		d.headerDone(d.MessageID())
		d.headerDone = nil
	}
}

// Hops returns the number of Received: header fields seen.
func (d *dataReader) Hops() int { return d.hops }

// Size returns the number of bytes returned so far.
func (d *dataReader) Size() int64 { return d.n }

// Read implements io.Reader.
func (d *dataReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if d.outN > 0 {
			p[n] = d.out[0]
			d.out[0] = d.out[1]
			d.outN--
			n++
			continue
		}
		if d.err != nil {
			break
		}
		if d.eof {
			d.err = io.EOF
			break
		}
		if k := d.fastCopy(p[n:]); k > 0 {
			n += k
			continue
		}
		c, err := d.r.ReadByte()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				d.err = err
				break
			}
			d.eof = true
			if d.inHeader {
				d.endHeader() // a message of header lines only
			}
			switch {
			case d.pendCR:
				d.pendCR = false
				if d.bare(errBareCR) {
					d.emitCRLF()
				}
			case d.lineLen > 0:
				d.emitCRLF() // the message must end with a line ending
			}
			continue
		}
		if d.pendCR {
			d.pendCR = false
			if c == '\n' {
				d.emitCRLF()
				continue
			}
			if !d.bare(errBareCR) {
				continue
			}
			d.emitCRLF()
			if err := d.r.UnreadByte(); err != nil {
				d.err = err
			}
			continue
		}
		switch c {
		case '\r':
			d.pendCR = true
		case '\n':
			if d.bare(errBareLF) {
				d.emitCRLF()
			}
		case 0:
			// A next hop that drops NULs would read "\r\n\x00.\r\n" as
			// the end of the message: refused, or with BareNormalize
			// dropped, never passed on.
			d.bare(errNUL)
		default:
			d.emitByte(c)
		}
	}
	if n == 0 && d.err != nil {
		return 0, d.err
	}
	return n, nil
}

// fastCopy copies the body bytes before the next CR or LF straight from
// the buffer: outside the header nothing else needs looking at.
func (d *dataReader) fastCopy(p []byte) int {
	if d.inHeader || d.pendCR || d.outN > 0 {
		return 0
	}
	if d.r.Buffered() == 0 {
		if _, err := d.r.Peek(1); err != nil {
			return 0 // the byte loop sees the error
		}
	}
	buf, _ := d.r.Peek(d.r.Buffered())
	k := len(buf)
	if i := bytes.IndexByte(buf, '\r'); i >= 0 {
		k = i
	}
	if i := bytes.IndexByte(buf[:k], 0); i >= 0 {
		k = i
	}
	if i := bytes.IndexByte(buf[:k], '\n'); i >= 0 {
		k = i
	}
	k = min(k, len(p))
	if d.lim.MaxSize > 0 {
		k = int(min(int64(k), d.lim.MaxSize-d.n))
	}
	if k <= 0 {
		return 0
	}
	copy(p, buf[:k])
	d.n += int64(k)
	d.lineLen += k
	_, _ = d.r.Discard(k)
	return k
}

// bare handles a bare line ending: it reports whether to normalise it,
// else sets the error.
func (d *dataReader) bare(e *Error) bool {
	if d.lim.Bare == BareNormalize {
		return true
	}
	d.err = e
	return false
}

func (d *dataReader) count(k int) bool {
	d.n += int64(k)
	if d.lim.MaxSize > 0 && d.n > d.lim.MaxSize {
		d.err = errTooBig
		d.outN = 0
		return false
	}
	return true
}

func (d *dataReader) emitByte(c byte) {
	if !d.count(1) {
		return
	}
	if d.inHeader {
		if d.inMsgID && len(d.msgID) < maxMessageID {
			d.msgID = append(d.msgID, c)
		}
		if d.hdr.add(c, d.lineLen) && d.msgID == nil && d.hdr.messageID() {
			d.inMsgID = true
			d.msgID = make([]byte, 0, 64)
		}
	}
	d.lineLen++
	d.out[0] = c
	d.outN = 1
}

func (d *dataReader) emitCRLF() {
	if !d.count(2) {
		return
	}
	d.out[0], d.out[1] = '\r', '\n'
	d.outN = 2
	if d.inHeader {
		switch {
		case d.lineLen == 0:
			d.endHeader() // the empty line ends the header
		case d.hdr.continuation:
		case d.hdr.state == nameDone:
			if d.hdr.received() {
				d.hops++
				if d.lim.MaxHops > 0 && d.hops > d.lim.MaxHops {
					d.err = errTooManyHops
					d.outN = 0
				}
			}
		default:
			d.endHeader() // not a header line: the body has begun
		}
		d.hdr = headerScan{}
		d.inMsgID = false
	}
	d.lineLen = 0
}

// headerScan recognises a header field name at the start of a line.
type headerScan struct {
	state        int
	continuation bool
	name         [10]byte // the first 10 bytes of the name, lower case
	nameLen      int
	trailingWS   bool
}

const (
	inName = iota
	nameDone
	notHeader
)

// add feeds the byte at position pos of the line, and reports whether it
// was the colon that ends a header name.
func (h *headerScan) add(c byte, pos int) bool {
	if pos == 0 && (c == ' ' || c == '\t') {
		h.continuation = true
		return false
	}
	if h.continuation || h.state != inName {
		return false
	}
	switch {
	case c == ':':
		if h.nameLen == 0 {
			h.state = notHeader
		} else {
			h.state = nameDone
			return true
		}
	case c == ' ' || c == '\t':
		if h.nameLen == 0 {
			h.state = notHeader
		}
		h.trailingWS = true // Postfix accepts "Name :"
	case c > ' ' && c < 0x7f && !h.trailingWS:
		if h.nameLen < len(h.name) {
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			h.name[h.nameLen] = c
		}
		h.nameLen++
	default:
		h.state = notHeader
	}
	return false
}

func (h *headerScan) received() bool {
	return h.nameLen == 8 && string(h.name[:8]) == "received"
}

func (h *headerScan) messageID() bool {
	return h.nameLen == 10 && string(h.name[:]) == "message-id"
}
