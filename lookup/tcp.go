package lookup

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// tcpMaxReply caps a tcp: reply line, as Postfix's dict_tcp.c.
const tcpMaxReply = 4096

// TCPTable is a tcp: table (Postfix's tcp_table(5)): each lookup sends
// "get KEY\n" to host:port and reads one reply line, "200 value" (found),
// "500 text" (not found) or "400 text" (a Temporary error). Keys and
// values are %XX-encoded as Postfix's hex_quote does: '%', white space
// and every byte that is not printable ASCII. A server that is down,
// stalls, or sends a malformed or over-long (4096 bytes) reply is a
// Temporary error, never a miss. Keys are sent as given, as Postfix sends
// them. Connections are reused; each exchange is bounded by
// OpenOptions.LookupTimeout. Where Postfix retries a dead server ten
// times, a second apart, mxrelay answers the Temporary error at once, so
// that SMTP replies 451 without holding the session.
type TCPTable struct {
	spec string
	pool *netPool
}

// openTCP opens "host:port".
func openTCP(_ context.Context, addr string, o *OpenOptions) (Table, error) {
	spec := "tcp:" + addr
	if _, _, err := splitHostPort(addr); err != nil {
		return nil, fmt.Errorf("%s: %w", spec, err)
	}
	return &TCPTable{spec: spec, pool: newNetPool("tcp", addr, o)}, nil
}

// Lookup asks the server for key.
func (t *TCPTable) Lookup(ctx context.Context, key string) (string, bool, error) {
	if !utf8.ValidString(key) {
		return "", false, nil
	}
	var line string
	err := t.pool.exchange(ctx, func(c *pooledConn) (bool, error) {
		req := append([]byte("get "), hexQuote(key)...)
		if _, err := c.Write(append(req, '\n')); err != nil {
			return false, err
		}
		l, err := readLine(c, tcpMaxReply)
		line = l
		if err != nil {
			return false, err
		}
		return strings.HasPrefix(l, "2") || strings.HasPrefix(l, "5"), nil // Postfix hangs up after 4xx or a bad reply
	})
	if err != nil {
		return "", false, &Error{Table: t.spec, Key: key, Kind: Temporary, Err: err}
	}
	v, found, err := parseTCPReply(line)
	if err != nil {
		return "", false, &Error{Table: t.spec, Key: key, Kind: Temporary, Err: err}
	}
	if !found {
		return "", false, nil
	}
	return checkValue(t.spec, key, v)
}

// String returns the table's spec.
func (t *TCPTable) String() string { return t.spec }

// Close closes the idle connections to the server.
func (t *TCPTable) Close() error { return t.pool.Close() }

// KeysAsGiven marks the table: Postfix does not fold tcp: keys.
func (t *TCPTable) KeysAsGiven() {}

// errLineTooLong is the cause of a reply line over the limit.
var errLineTooLong = errors.New("reply line too long")

// readLine reads a line of at most max bytes and returns it without its
// '\n'.
func readLine(c *pooledConn, max int) (string, error) {
	var b []byte
	for {
		frag, err := c.rd.ReadSlice('\n')
		b = append(b, frag...)
		if len(b) > max+1 {
			return "", fmt.Errorf("%w: more than %d bytes", errLineTooLong, max)
		}
		if err == nil {
			return string(b[:len(b)-1]), nil
		}
		if err != bufio.ErrBufferFull {
			return "", err
		}
	}
}

// parseTCPReply reads a tcp_table(5) reply line: three digits, a space,
// and %XX-encoded text.
func parseTCPReply(line string) (value string, found bool, err error) {
	if len(line) < 4 || !isDigit(line[0]) || !isDigit(line[1]) || !isDigit(line[2]) || !isCSpace(line[3]) {
		return "", false, fmt.Errorf("malformed reply: %s", strconv.QuoteToASCII(truncate(line, 100)))
	}
	text, ok := hexUnquote(line[4:])
	if !ok {
		return "", false, fmt.Errorf("malformed reply: %s", strconv.QuoteToASCII(truncate(line, 100)))
	}
	switch line[0] {
	case '2':
		return text, true, nil
	case '5':
		return "", false, nil
	case '4':
		return "", false, fmt.Errorf("server soft error: %s", strconv.QuoteToASCII(truncate(line, 100)))
	}
	return "", false, fmt.Errorf("bad status code: %s", strconv.QuoteToASCII(truncate(line, 100)))
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isCSpace is C's isspace in the C locale.
func isCSpace(c byte) bool { return c == ' ' || '\t' <= c && c <= '\r' }

// hexQuote encodes s as Postfix's hex_quote: '%', white space and bytes
// that are not printable ASCII become %XX.
func hexQuote(s string) []byte {
	const hexdigits = "0123456789ABCDEF"
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' && c > ' ' && c < 0x7f {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexdigits[c>>4], hexdigits[c&15])
	}
	return b
}

// hexUnquote decodes %XX (either case); a '%' not followed by two hex
// digits makes the text malformed.
func hexUnquote(s string) (string, bool) {
	if !strings.Contains(s, "%") {
		return s, true
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b = append(b, s[i])
			continue
		}
		hi, ok1 := unhex(s, i+1)
		lo, ok2 := unhex(s, i+2)
		if !ok1 || !ok2 {
			return "", false
		}
		b = append(b, hi<<4|lo)
		i += 2
	}
	return string(b), true
}

func unhex(s string, i int) (byte, bool) {
	if i >= len(s) {
		return 0, false
	}
	switch c := s[i]; {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
