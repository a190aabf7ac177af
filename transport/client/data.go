package client

import (
	"bytes"
	"encoding/binary"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// lineWriter writes message content in canonical form: every line ending
// is CRLF, and, with stuff set, a line starting with "." gets a second one
// (RFC 5321 section 4.5.2).
//
// Line endings are normalised as follows (the SMTP smuggling defence):
// CR LF is one line ending; a bare LF is a line ending; a bare CR is a line
// ending. Each is written as CR LF, so no bare CR or LF reaches the peer and
// no sequence such as LF "." CR LF can end the data early on a lax server.
type lineWriter struct {
	w     bytesWriter
	stuff bool
	bol   bool // at the beginning of a line
	cr    bool // the previous byte was a CR, already written as CRLF
}

// bytesWriter is the subset of *bufio.Writer and *bytes.Buffer used.
type bytesWriter interface {
	io.Writer
	WriteString(string) (int, error)
	WriteByte(byte) error
}

func newLineWriter(w bytesWriter, stuff bool) *lineWriter {
	return &lineWriter{w: w, stuff: stuff, bol: true}
}

func (l *lineWriter) Write(p []byte) (int, error) {
	w := l.w
	n := len(p)
	for len(p) > 0 {
		if l.cr {
			l.cr = false
			if p[0] == '\n' {
				p = p[1:]
				continue
			}
		}
		if l.bol && l.stuff && p[0] == '.' {
			if err := w.WriteByte('.'); err != nil {
				return 0, err
			}
		}
		// The line runs to the next LF; a CR inside it ends it earlier.
		end := bytes.IndexByte(p, '\n')
		seg := p
		if end >= 0 {
			seg = p[:end]
		}
		if i := bytes.IndexByte(seg, '\r'); i >= 0 {
			if _, err := w.Write(seg[:i]); err != nil {
				return 0, err
			}
			if _, err := w.WriteString("\r\n"); err != nil {
				return 0, err
			}
			l.bol, l.cr = true, true
			p = p[i+1:]
			continue
		}
		if _, err := w.Write(seg); err != nil {
			return 0, err
		}
		if end < 0 {
			l.bol = len(seg) == 0 && l.bol
			return n, nil
		}
		if _, err := w.WriteString("\r\n"); err != nil {
			return 0, err
		}
		l.bol = true
		p = p[end+1:]
	}
	return n, nil
}

// finish ends an unterminated last line with CRLF.
func (l *lineWriter) finish() error {
	if l.bol {
		return nil
	}
	l.bol = true
	_, err := l.w.WriteString("\r\n")
	return err
}

// contentInfo is what a pass over the message tells before sending it.
type contentInfo struct {
	// size is the content size with canonical line endings, without
	// dot-stuffing: the RFC 1870 SIZE value.
	size int64
	// eightBit: some byte is >= 0x80.
	eightBit bool
	// utf8Header: some header byte is >= 0x80.
	utf8Header bool
}

// scanContent reads the message once, through buf (nil: a new buffer).
// The header ends at the first empty line under the same line-ending rules
// as lineWriter.
func scanContent(body io.ReaderAt, size int64, buf []byte) (contentInfo, error) {
	var ci contentInfo
	if size <= 0 || body == nil {
		return ci, nil
	}
	if len(buf) == 0 {
		buf = make([]byte, ioBufferSize)
	}
	var (
		off                   int64
		inHeader              = true
		hdrBOL                = true
		hdrCR                 bool
		nLF, nCR, nCRLF, tail int64
		prevCR                bool
		last                  byte
	)
	for off < size {
		n := int64(len(buf))
		if size-off < n {
			n = size - off
		}
		m, err := body.ReadAt(buf[:n], off)
		if int64(m) < n {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return ci, err
		}
		chunk := buf[:m]
		off += int64(m)
		if inHeader {
			for i, c := range chunk {
				if c >= 0x80 {
					ci.utf8Header = true
				}
				if hdrCR && c == '\n' {
					hdrCR = false
					continue
				}
				hdrCR = false
				if c == '\r' || c == '\n' {
					if hdrBOL {
						inHeader = false
						// Body starts after this line ending; the rest of
						// the chunk is scanned below for 8-bit bytes.
						if !ci.eightBit && has8bit(chunk[i:]) {
							ci.eightBit = true
						}
						break
					}
					hdrBOL = true
					hdrCR = c == '\r'
					continue
				}
				hdrBOL = false
			}
			if ci.utf8Header {
				ci.eightBit = true
			}
		} else if !ci.eightBit && has8bit(chunk) {
			ci.eightBit = true
		}
		nLF += int64(bytes.Count(chunk, []byte{'\n'}))
		nCR += int64(bytes.Count(chunk, []byte{'\r'}))
		nCRLF += int64(bytes.Count(chunk, []byte("\r\n")))
		if prevCR && chunk[0] == '\n' {
			nCRLF++
		}
		prevCR = chunk[len(chunk)-1] == '\r'
		last = chunk[len(chunk)-1]
	}
	if last != '\r' && last != '\n' {
		tail = 2
	}
	ci.size = size + (nLF - nCRLF) + (nCR - nCRLF) + tail
	return ci, nil
}

// has8bit reports a byte >= 0x80, eight bytes at a time.
func has8bit(p []byte) bool {
	for len(p) >= 8 {
		if binary.LittleEndian.Uint64(p)&0x8080808080808080 != 0 {
			return true
		}
		p = p[8:]
	}
	for _, c := range p {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// validAddress rejects envelope addresses that could break the command
// line: control characters, angle brackets, invalid UTF-8, or more than
// the RFC 5321 path limit of 256 octets.
func validAddress(a string) bool {
	if len(a) > 256 || !utf8.ValidString(a) {
		return false
	}
	for i := 0; i < len(a); i++ {
		c := a[i]
		if c < 0x20 || c == 0x7f || c == '<' || c == '>' {
			return false
		}
	}
	return true
}

// validAddrType checks an ORCPT address type (RFC 3461 addr-type, an
// atom; in practice "rfc822", "utf-8", "x400"): letters, digits and "-".
// Empty means the default.
func validAddrType(t string) bool {
	if len(t) > 32 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validNotify checks a NOTIFY value: NEVER alone, or a list of SUCCESS,
// FAILURE, DELAY (RFC 3461 section 4.1).
func validNotify(v string) bool {
	if strings.EqualFold(v, "NEVER") {
		return true
	}
	for item := range strings.SplitSeq(v, ",") {
		switch strings.ToUpper(item) {
		case "SUCCESS", "FAILURE", "DELAY":
		default:
			return false
		}
	}
	return true
}

// xtext encodes s as RFC 3461 xtext: "+" followed by two upper-case hex
// digits for '+', '=', '<', '>' and bytes outside 0x21-0x7e.
func xtext(s string) string {
	// '<' and '>' may stand as themselves (RFC 3461 section 4), but
	// encoded they cannot confuse a server that looks for the end of the
	// path in the whole command line.
	return xtextQuote(s, "=<>", len(s)*3)
}

// xtextQuote encodes s as xtext, as Postfix's xtext_quote_append: "+XX"
// for '+', for the bytes of special and for bytes outside 0x21-0x7e. It
// stops once the result has max bytes.
func xtextQuote(s, special string, max int) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < max; i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '+' || strings.IndexByte(special, c) >= 0 {
			b.WriteByte('+')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// utf8AddrText encodes a UTF-8 address for ORCPT type utf-8 (RFC 6533
// section 3): characters outside QCHAR become \x{HEX}; with unitext, UTF-8
// characters other than those are sent as is (SMTPUTF8 sessions only).
func utf8AddrText(s string, unitext bool) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 0x21 && r <= 0x7e && r != '+' && r != '=' && r != '\\':
			b.WriteRune(r)
		case unitext && r >= 0x80 && r != utf8.RuneError:
			b.WriteRune(r)
		default:
			b.WriteString(`\x{`)
			b.WriteString(strings.ToUpper(strconv.FormatInt(int64(r), 16)))
			b.WriteByte('}')
		}
	}
	return b.String()
}
