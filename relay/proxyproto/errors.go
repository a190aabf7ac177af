package proxyproto

import (
	"fmt"
	"strconv"
)

// Reason classifies why Read refused a header.
type Reason int

const (
	// Malformed: the bytes are not a header the spec allows: a bad v1
	// prefix, protocol, address, port or spacing, a line not ended by
	// CRLF, a bad v2 signature, version, command, family or transport, or
	// an address block too short for its family.
	Malformed Reason = iota + 1
	// Truncated: the connection was closed before the header was complete.
	// Err is io.EOF when not one byte came (a load balancer's TCP health
	// check), io.ErrUnexpectedEOF otherwise.
	Truncated
	// Unsupported: a well-formed v2 PROXY header for a family or transport
	// that Postfix does not take either (UDP, AF_UNIX, UNSPEC).
	Unsupported
	// TooLong: a v1 line with no CRLF in its first MaxV1Length bytes, or a
	// v2 header longer than MaxV2Length.
	TooLong
	// ReadFailed: reading failed for another reason than the end of the
	// stream; Err says which. A header that did not arrive before the
	// conn's read deadline (smtpd_upstream_proxy_timeout) gives an Err for
	// which errors.Is(err, os.ErrDeadlineExceeded) is true.
	ReadFailed
)

// String returns "malformed", "truncated", "unsupported", "too long" or
// "read failed".
func (r Reason) String() string {
	switch r {
	case Malformed:
		return "malformed"
	case Truncated:
		return "truncated"
	case Unsupported:
		return "unsupported"
	case TooLong:
		return "too long"
	case ReadFailed:
		return "read failed"
	}
	return "Reason(" + strconv.Itoa(int(r)) + ")"
}

// Error is why Read (or Handshake) refused a connection's PROXY header.
// Every error they return is an *Error.
type Error struct {
	Reason  Reason
	Version int    // 1 or 2, as the first byte announced; 0 when it announced neither
	Detail  string // what was wrong, attacker-supplied bytes quoted with %q
	Err     error  // the read error (io.EOF, io.ErrUnexpectedEOF, a deadline...), nil for a refused header
}

// Error returns "proxyproto: v1 header malformed: DETAIL[: ERR]".
func (e *Error) Error() string {
	s := "proxyproto: header "
	if e.Version != 0 {
		s = fmt.Sprintf("proxyproto: v%d header ", e.Version)
	}
	s += e.Reason.String()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the read error, if any.
func (e *Error) Unwrap() error { return e.Err }
