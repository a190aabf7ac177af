package client

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits on what a peer may send in one reply. A reply that exceeds them is
// a protocol error: the session is abandoned and the caller tries the next
// address, as for a lost connection.
const (
	// MaxReplyLineLength is what is kept of one reply line, excluding
	// CRLF: a longer line is cut there and the rest skipped, as Postfix's
	// smtp_get does with line_length_limit (2048).
	MaxReplyLineLength = 2048
	// MaxReplyLines caps the lines of one multi-line reply (an EHLO reply
	// with every extension Postfix offers has about 12).
	MaxReplyLines = 128
	// MaxReplySize caps the total text of one reply.
	MaxReplySize = 64 << 10
	// MaxReplyKept bounds the text kept of one reply: once the lines kept
	// reach it, the following lines are read and dropped, as Postfix's
	// smtp_chat_resp keeps at most line_length_limit (2048) bytes of a
	// multi-line reply. It keeps every keyword of a usual EHLO reply.
	MaxReplyKept = 2048
)

// ErrMalformedReply is wrapped by every error that reports a reply that is
// not valid SMTP (RFC 5321 section 4.2) or exceeds the limits above.
var ErrMalformedReply = errors.New("malformed SMTP reply")

// EnhancedCode is an RFC 3463 enhanced status code such as 5.1.1. The zero
// value means the reply carried none.
type EnhancedCode [3]int

// IsZero reports whether c is absent.
func (c EnhancedCode) IsZero() bool { return c == EnhancedCode{} }

// String formats c as "class.subject.detail", or "" when c is absent.
func (c EnhancedCode) String() string {
	if c.IsZero() {
		return ""
	}
	return strconv.Itoa(c[0]) + "." + strconv.Itoa(c[1]) + "." + strconv.Itoa(c[2])
}

// ParseEnhancedCode parses "class.subject.detail" (class 2, 4 or 5; subject
// and detail 0-999, RFC 3463 section 2).
func ParseEnhancedCode(s string) (EnhancedCode, bool) {
	var c EnhancedCode
	for i := range 3 {
		end := len(s)
		if i < 2 {
			end = strings.IndexByte(s, '.')
			if end < 0 {
				return EnhancedCode{}, false
			}
		}
		part := s[:end]
		if len(part) == 0 || len(part) > 3 || (i == 0 && len(part) != 1) {
			return EnhancedCode{}, false
		}
		n := 0
		for j := 0; j < len(part); j++ {
			if part[j] < '0' || part[j] > '9' {
				return EnhancedCode{}, false
			}
			n = n*10 + int(part[j]-'0')
		}
		c[i] = n
		if i < 2 {
			s = s[end+1:]
		}
	}
	if c[0] != 2 && c[0] != 4 && c[0] != 5 {
		return EnhancedCode{}, false
	}
	return c, true
}

// Reply is one SMTP reply (RFC 5321 section 4.2): a three-digit code and one
// or more lines of text.
type Reply struct {
	// Code is the reply code, 200-599.
	Code int
	// Enhanced is the RFC 3463 code at the start of the first line's text,
	// when present and of the same class as Code; zero otherwise.
	Enhanced EnhancedCode
	// Lines holds the text of each line after "NNN-" or "NNN ", as sent
	// except that control characters and invalid UTF-8 are replaced by '?'
	// (Postfix does the same before logging or bouncing a reply). Lines
	// after the first MaxReplyKept bytes of text are dropped.
	Lines []string
}

// Positive reports a 2xx reply.
func (r Reply) Positive() bool { return r.Code/100 == 2 }

// Intermediate reports a 3xx reply (354 to DATA).
func (r Reply) Intermediate() bool { return r.Code/100 == 3 }

// Temporary reports a 4xx reply.
func (r Reply) Temporary() bool { return r.Code/100 == 4 }

// Permanent reports a 5xx reply.
func (r Reply) Permanent() bool { return r.Code/100 == 5 }

// Message is the reply text with the lines joined by a space and the
// enhanced code removed from each line that starts with it.
func (r Reply) Message() string {
	var b strings.Builder
	prefix := r.Enhanced.String()
	for i, l := range r.Lines {
		if prefix != "" {
			if l == prefix {
				l = ""
			} else if rest, ok := strings.CutPrefix(l, prefix+" "); ok {
				l = rest
			}
		}
		if l == "" {
			continue
		}
		if i > 0 && b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(l)
	}
	return b.String()
}

// String formats the reply on one line the way Postfix quotes it in logs
// and bounces: "550 5.1.1 <u@example.com>: Recipient address rejected".
func (r Reply) String() string {
	s := strconv.Itoa(r.Code)
	if !r.Enhanced.IsZero() {
		s += " " + r.Enhanced.String()
	}
	if m := r.Message(); m != "" {
		s += " " + m
	}
	return s
}

// Format returns the reply in wire form, each line ending in CRLF.
// ParseReply(r.Format()) returns r.
func (r Reply) Format() string {
	var b strings.Builder
	lines := r.Lines
	if len(lines) == 0 {
		lines = []string{""}
	}
	for i, l := range lines {
		b.WriteString(strconv.Itoa(r.Code))
		if i < len(lines)-1 {
			b.WriteByte('-')
		} else if l != "" {
			b.WriteByte(' ')
		}
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	return b.String()
}

// ParseReply parses one complete reply in wire form. Lines end in CRLF or a
// bare LF; the last line terminator may be missing. Text after the last
// line is an error.
func ParseReply(s string) (Reply, error) {
	if !strings.HasSuffix(s, "\n") {
		s += "\r\n"
	}
	br := bufio.NewReaderSize(strings.NewReader(s), MaxReplyLineLength+16)
	r, err := readReply(br)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return Reply{}, fmt.Errorf("%w: truncated reply", ErrMalformedReply)
		}
		return Reply{}, err
	}
	if br.Buffered() > 0 {
		return Reply{}, fmt.Errorf("%w: data after the last reply line", ErrMalformedReply)
	}
	return r, nil
}

// readReply reads one reply from br, enforcing the limits. The bufio.Reader
// must be larger than MaxReplyLineLength+2. I/O errors are returned as is;
// io.EOF in the middle of a reply becomes io.ErrUnexpectedEOF.
func readReply(br *bufio.Reader) (Reply, error) {
	var r Reply
	total, kept, lines := 0, 0, 0
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// As Postfix's smtp_get with line_length_limit: the line is
			// cut and the rest of it skipped, not refused.
			line = append([]byte(nil), line...)
			err = skipRest(br)
			line = append(line, '\n')
		}
		if err != nil {
			if errors.Is(err, io.EOF) && (len(line) > 0 || lines > 0) {
				err = io.ErrUnexpectedEOF
			}
			return Reply{}, err
		}
		line = line[:len(line)-1]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) > MaxReplyLineLength {
			line = line[:MaxReplyLineLength]
		}
		total += len(line)
		if total > MaxReplySize {
			return Reply{}, fmt.Errorf("%w: reply longer than %d bytes", ErrMalformedReply, MaxReplySize)
		}
		if lines == MaxReplyLines {
			return Reply{}, fmt.Errorf("%w: more than %d lines", ErrMalformedReply, MaxReplyLines)
		}
		code, more, text, err := parseReplyLine(line)
		if err != nil {
			return Reply{}, err
		}
		if lines == 0 {
			r.Code = code
		} else if code != r.Code {
			return Reply{}, fmt.Errorf("%w: code %d on a continuation of %d", ErrMalformedReply, code, r.Code)
		}
		lines++
		if kept < MaxReplyKept {
			r.Lines = append(r.Lines, text)
			kept += len(text) + 1
		}
		if !more {
			break
		}
	}
	if c, ok := leadingEnhancedCode(r.Lines[0]); ok && c[0] == r.Code/100 {
		r.Enhanced = c
	}
	return r, nil
}

// maxReplyLineSkipped bounds what is read and dropped of one overlong
// reply line before the reply is called malformed.
const maxReplyLineSkipped = 4 << 20

// skipRest reads and drops the rest of a line, up to and including LF.
func skipRest(br *bufio.Reader) error {
	skipped := 0
	for {
		b, err := br.ReadSlice('\n')
		skipped += len(b)
		if skipped > maxReplyLineSkipped {
			return fmt.Errorf("%w: line longer than %d bytes", ErrMalformedReply, maxReplyLineSkipped)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return err
	}
}

func parseReplyLine(line []byte) (code int, more bool, text string, err error) {
	if len(line) < 3 {
		return 0, false, "", fmt.Errorf("%w: %q", ErrMalformedReply, line)
	}
	c0, c1, c2 := line[0], line[1], line[2]
	if c0 < '2' || c0 > '5' || c1 < '0' || c1 > '9' || c2 < '0' || c2 > '9' {
		return 0, false, "", fmt.Errorf("%w: bad reply code %q", ErrMalformedReply, line[:3])
	}
	code = int(c0-'0')*100 + int(c1-'0')*10 + int(c2-'0')
	if len(line) == 3 {
		return code, false, "", nil
	}
	switch line[3] {
	case ' ':
	case '-':
		more = true
	default:
		return 0, false, "", fmt.Errorf("%w: %q", ErrMalformedReply, line)
	}
	return code, more, sanitize(line[4:]), nil
}

// sanitize replaces control characters (except TAB) and invalid UTF-8 with
// '?', so reply text is safe to log, quote in a bounce, or re-send.
func sanitize(b []byte) string {
	clean := true
	for _, c := range b {
		if (c < 0x20 && c != '\t') || c == 0x7f || c >= 0x80 {
			clean = false
			break
		}
	}
	if clean {
		return string(b)
	}
	var s strings.Builder
	s.Grow(len(b))
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && n <= 1:
			s.WriteByte('?')
		case (r < 0x20 && r != '\t') || r == 0x7f:
			s.WriteByte('?')
		default:
			s.Write(b[:n])
		}
		b = b[n:]
	}
	return s.String()
}

func leadingEnhancedCode(text string) (EnhancedCode, bool) {
	word := text
	if i := strings.IndexAny(text, " \t"); i >= 0 {
		word = text[:i]
	}
	return ParseEnhancedCode(word)
}
