package smtpdproxy

import (
	"bufio"
	"errors"
	"io"
	"strconv"
)

// errGarbage is a reply whose first line has no reply code.
var errGarbage = errors.New("smtpdproxy: reply without a reply code")

// readReply reads one reply of the filter, as smtpd_proxy_cmd: a line
// longer than lineLimit is cut there (the rest skipped), non-printable
// characters become "?", lines are kept while the reply is shorter than
// lineLimit, and a line whose code is not followed by "-" ends the reply
// unless it is garbage (not three digits then space or end of line),
// which continues it. A first line without a 2xx..5xx code is an error
// (Postfix would pass such text to the client).
func readReply(r *bufio.Reader) (Reply, error) {
	var rep Reply
	size := 0
	for {
		line, err := readLine(r)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return Reply{}, err
		}
		if size < lineLimit {
			rep.Lines = append(rep.Lines, line)
			size += len(line) + 2
		}
		n := 0
		for n < len(line) && line[n] >= '0' && line[n] <= '9' {
			n++
		}
		if n == 3 && (len(line) == 3 || line[3] == ' ') {
			break
		}
	}
	first := rep.Lines[0]
	if len(first) < 3 || first[0] < '2' || first[0] > '5' {
		return Reply{}, errGarbage
	}
	code, err := strconv.Atoi(first[:3])
	if err != nil {
		return Reply{}, errGarbage
	}
	rep.Code = code
	return rep, nil
}

// readLine reads a line without its CRLF or LF, at most lineLimit bytes
// of it, censored.
func readLine(r *bufio.Reader) (string, error) {
	var b []byte
	for {
		c, err := r.ReadByte()
		if err != nil {
			return "", err
		}
		if c == '\n' {
			break
		}
		if len(b) < lineLimit {
			b = append(b, c)
		}
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	for i, c := range b {
		if c < ' ' || c >= 0x7f {
			b[i] = '?'
		}
	}
	return string(b), nil
}
