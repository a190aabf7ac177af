package lookup

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Socketmap limits, as Postfix's dict_sockmap.c.
const (
	socketmapMaxReply = 100000 // a longer reply is an error
	socketmapMaxQuery = 10000  // a longer key is not found
)

// SocketmapTable is a socketmap: table: each lookup asks a server that
// speaks the Sendmail socketmap protocol, netstring framed (Postfix's
// socketmap_table(5)). The spec names the server and the map:
//
//	socketmap:inet:127.0.0.1:9999:virtual
//	socketmap:unix:/run/sockmap.sock:virtual
//
// The request is the netstring "virtual KEY"; the reply "OK value" is a
// hit, "NOTFOUND " a miss, "TEMP", "TIMEOUT" and anything else a
// Temporary error, "PERM" a Config error. A server that is down, stalls or
// sends a malformed reply is a Temporary error (451 4.3.0), never a miss.
// Keys are sent as given (Postfix neither folds them nor looks up parent
// domains in a socketmap). Connections are reused, at most 16 are open at
// once, and each exchange is bounded by OpenOptions.LookupTimeout (10s by
// default, where Postfix waits 100s); a key longer than 10000 bytes is not
// found and a reply longer than 100000 bytes is an error, as in Postfix.
type SocketmapTable struct {
	spec, name string
	pool       *netPool
}

// openSocketmap opens "inet:host:port:name" or "unix:/path:name".
func openSocketmap(_ context.Context, arg string, o *OpenOptions) (Table, error) {
	spec := "socketmap:" + arg
	i := strings.LastIndexByte(arg, ':')
	if i < 0 {
		return nil, fmt.Errorf("%s: socketmap requires server:socketmap argument", spec)
	}
	endpoint, name := arg[:i], arg[i+1:]
	if name == "" {
		return nil, fmt.Errorf("%s: empty socketmap name", spec)
	}
	network, addr, err := socketEndpoint(endpoint)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", spec, err)
	}
	return &SocketmapTable{spec: spec, name: name, pool: newNetPool(network, addr, o)}, nil
}

// socketEndpoint reads "inet:host:port" or "unix:/path".
func socketEndpoint(s string) (network, addr string, err error) {
	kind, rest, _ := strings.Cut(s, ":")
	switch kind {
	case "inet":
		if _, _, err := splitHostPort(rest); err != nil {
			return "", "", err
		}
		return "tcp", rest, nil
	case "unix":
		if rest == "" {
			return "", "", errors.New("unix: needs a socket path")
		}
		return "unix", rest, nil
	}
	return "", "", fmt.Errorf("server %q: want inet:host:port or unix:/path", s)
}

// splitHostPort reads "host:port" or "[host]:port" with a numeric or
// named port.
func splitHostPort(s string) (host, port string, err error) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || i == len(s)-1 {
		return "", "", fmt.Errorf("%q: want host:port", s)
	}
	return strings.Trim(s[:i], "[]"), s[i+1:], nil
}

// Lookup asks the server for key.
func (t *SocketmapTable) Lookup(ctx context.Context, key string) (string, bool, error) {
	if !utf8.ValidString(key) || len(key) > socketmapMaxQuery {
		return "", false, nil // as Postfix: an invalid or oversized key does not exist
	}
	var reply string
	err := t.pool.exchange(ctx, func(c *pooledConn) (bool, error) {
		if _, err := c.Write(appendNetstring(nil, t.name+" "+key)); err != nil {
			return false, err
		}
		r, err := readNetstring(c.rd, socketmapMaxReply)
		reply = r
		return err == nil, err
	})
	if err != nil {
		return "", false, &Error{Table: t.spec, Key: key, Kind: Temporary, Err: err}
	}
	v, found, kind, err := parseSocketmapReply(reply)
	if err != nil {
		return "", false, &Error{Table: t.spec, Key: key, Kind: kind, Err: err}
	}
	if !found {
		return "", false, nil
	}
	return checkValue(t.spec, key, v)
}

// String returns the table's spec.
func (t *SocketmapTable) String() string { return t.spec }

// Close closes the idle connections to the server.
func (t *SocketmapTable) Close() error { return t.pool.Close() }

// KeysAsGiven marks the table: Postfix does not fold socketmap keys.
func (t *SocketmapTable) KeysAsGiven() {}

// parseSocketmapReply reads a socketmap reply: "OK value" found, "NOTFOUND"
// not found; otherwise an error of the kind Postfix gives it.
func parseSocketmapReply(reply string) (value string, found bool, kind ErrorKind, err error) {
	status, payload, _ := strings.Cut(reply, " ")
	switch status {
	case "OK":
		return payload, true, 0, nil
	case "NOTFOUND":
		return "", false, 0, nil
	}
	detail := strings.TrimLeft(payload, " \t\r\n\v\f")
	detail = truncate(detail, 100)
	if detail != "" {
		detail = ": " + strconv.QuoteToASCII(detail)
	}
	switch status {
	case "TEMP":
		return "", false, Temporary, fmt.Errorf("socketmap server temporary error%s", detail)
	case "TIMEOUT":
		return "", false, Temporary, fmt.Errorf("socketmap server timeout error%s", detail)
	case "PERM":
		return "", false, Config, fmt.Errorf("socketmap server permanent error%s", detail)
	}
	return "", false, Temporary, fmt.Errorf("socketmap server unknown error: reply %s", strconv.QuoteToASCII(truncate(reply, 100)))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// appendNetstring appends s as a netstring, "len:s,".
func appendNetstring(b []byte, s string) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	b = append(b, s...)
	return append(b, ',')
}

// errNetstring is the cause of a malformed netstring.
var errNetstring = errors.New("malformed netstring")

// readNetstring reads one netstring of at most max bytes.
func readNetstring(r *bufio.Reader, max int) (string, error) {
	n := 0
	for digits := 0; ; digits++ {
		c, err := r.ReadByte()
		if err != nil {
			if digits > 0 && err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
		if c == ':' && digits > 0 {
			break
		}
		if c < '0' || c > '9' {
			return "", fmt.Errorf("%w: bad length", errNetstring)
		}
		n = n*10 + int(c-'0')
		if n > max {
			return "", fmt.Errorf("%w: length exceeds the limit of %d", errNetstring, max)
		}
	}
	buf := make([]byte, n+1)
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return "", err
	}
	if buf[n] != ',' {
		return "", fmt.Errorf("%w: missing ','", errNetstring)
	}
	return string(buf[:n]), nil
}
