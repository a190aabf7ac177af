package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
)

const (
	// MaxV1Length is the longest v1 header line, CRLF included, that Read
	// takes: the spec's worst case, "PROXY UNKNOWN " followed by two full
	// IPv6 addresses, two five-digit ports and CRLF.
	MaxV1Length = 107

	// MaxV2Length is the longest v2 header, its 16 fixed bytes included,
	// that Read takes: Postfix's HAPROXY_HEADER_MAX_LEN (the default IPv4
	// TCP MSS, 576-40), which leaves 484 bytes of TLVs after two IPv6
	// addresses. Read refuses a longer header as TooLong before reading
	// its body, so it never buffers more than this.
	MaxV2Length = 536
)

const (
	v1Prefix    = "PROXY "
	v2Signature = "\r\n\r\n\x00\r\nQUIT\n"
	v2FixedLen  = 16 // signature, version and command, family, length

	v2Local = 0x0 // commands, the low nibble of byte 13
	v2Proxy = 0x1

	v2TCP4 = 0x11 // family and transport, byte 14
	v2TCP6 = 0x21

	v2AddrLen4 = 4 + 4 + 2 + 2
	v2AddrLen6 = 16 + 16 + 2 + 2
)

// Header is what a PROXY protocol header says about a connection.
type Header struct {
	Version int // 1 (text) or 2 (binary)

	// Local is true for a v2 LOCAL command and a v1 "PROXY UNKNOWN" line:
	// the proxy opened the connection itself (a health check), or could
	// not tell who the client is, and the connection's own addresses
	// apply, as with Postfix's smtpd_peer_from_default. Source and
	// Destination are then zero: any addresses the header carried are
	// ignored, as the spec says.
	Local bool

	// Source is the client's address and port, Destination the address
	// and port the client connected to (the proxy's listener). An
	// IPv4-mapped IPv6 address (::ffff:192.0.2.1) is unmapped, each on
	// its own as Postfix does, so a TCP6 or AF_INET6 header can give a
	// Source and a Destination of different families.
	Source, Destination netip.AddrPort
}

// String returns "PROXY v1 192.0.2.1:4711 -> 198.51.100.1:25",
// "PROXY v2 LOCAL" or "PROXY v1 UNKNOWN", for logs.
func (h Header) String() string {
	if h.Local {
		if h.Version == 1 {
			return "PROXY v1 UNKNOWN"
		}
		return fmt.Sprintf("PROXY v%d LOCAL", h.Version)
	}
	return fmt.Sprintf("PROXY v%d %s -> %s", h.Version, h.Source, h.Destination)
}

// Read reads a PROXY protocol header from r, version 1 or 2 as its first
// byte tells ('P' or CR), and returns what it says. Every error is an
// *Error.
//
// Read consumes exactly the header's bytes from r, so that the next byte r
// gives is the first of the SMTP stream: keep reading from r (NewConn
// does), since bytes that arrived with the header may already be buffered
// in it. Read returns as soon as the header is complete, never waiting for
// bytes beyond it (in SMTP the client waits for the server's greeting),
// and fails as soon as the bytes so far cannot start a valid header. It
// reads at most MaxV1Length or MaxV2Length bytes, and allocates nothing in
// proportion to a length the sender claims.
//
// Read sets no time limit: set a read deadline on the connection first
// (Handshake does), or a client that sends nothing holds it forever.
func Read(r *bufio.Reader) (Header, error) {
	b, err := r.ReadByte()
	if err != nil {
		return Header{}, readError(0, 0, err)
	}
	switch b {
	case v1Prefix[0]:
		return readV1(r)
	case v2Signature[0]:
		return readV2(r)
	}
	return Header{}, &Error{Reason: Malformed, Detail: fmt.Sprintf("first byte %q starts neither %q (v1) nor the v2 signature", b, "PROXY")}
}

// readError classifies a read error after n bytes of a version v header.
func readError(v, n int, err error) *Error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		if n == 0 {
			return &Error{Reason: Truncated, Version: v, Detail: "connection closed before the header", Err: io.EOF}
		}
		return &Error{Reason: Truncated, Version: v, Detail: fmt.Sprintf("connection closed after %d bytes", n), Err: io.ErrUnexpectedEOF}
	}
	return &Error{Reason: ReadFailed, Version: v, Detail: fmt.Sprintf("after %d bytes", n), Err: err}
}

func malformed(v int, format string, args ...any) *Error {
	return &Error{Reason: Malformed, Version: v, Detail: fmt.Sprintf(format, args...)}
}

// readV1 reads the rest of a v1 line whose 'P' was read, one byte at a
// time so that it stops at the LF.
func readV1(r *bufio.Reader) (Header, error) {
	var line [MaxV1Length]byte
	line[0] = v1Prefix[0]
	n := 1
	for {
		if n == len(line) {
			return Header{}, &Error{Reason: TooLong, Version: 1, Detail: fmt.Sprintf("no CRLF in the first %d bytes", MaxV1Length)}
		}
		b, err := r.ReadByte()
		if err != nil {
			return Header{}, readError(1, n, err)
		}
		line[n] = b
		n++
		switch {
		case n <= len(v1Prefix):
			if b != v1Prefix[n-1] {
				return Header{}, malformed(1, "line does not start with %q: %q", v1Prefix, line[:n])
			}
		case b == '\n':
			if line[n-2] != '\r' {
				return Header{}, malformed(1, "line ends in a bare LF, not CRLF")
			}
			return parseV1(line[len(v1Prefix) : n-2])
		case line[n-2] == '\r':
			return Header{}, malformed(1, "CR not followed by LF")
		}
	}
}

// parseV1 parses a v1 line between "PROXY " and CRLF:
// "TCP4 SRC DST SPORT DPORT", "TCP6 ..." or "UNKNOWN[ anything]".
func parseV1(line []byte) (Header, error) {
	proto, rest, more := bytes.Cut(line, []byte(" "))
	switch string(proto) {
	case "UNKNOWN":
		// The spec: "the receiver must ignore anything presented before
		// the CRLF is found".
		return Header{Version: 1, Local: true}, nil
	case "TCP4", "TCP6":
	case "":
		return Header{}, malformed(1, "empty protocol: two spaces after %q", "PROXY")
	default:
		return Header{}, malformed(1, "protocol %q is none of TCP4, TCP6, UNKNOWN", proto)
	}
	if !more {
		return Header{}, malformed(1, "%s without addresses and ports", proto)
	}
	// Exactly one space between fields, none before CRLF.
	var f [4][]byte
	for i := range f {
		if i < len(f)-1 {
			var ok bool
			if f[i], rest, ok = bytes.Cut(rest, []byte(" ")); !ok {
				return Header{}, malformed(1, "%s with %d of its 4 fields (source and destination addresses and ports)", proto, i+1)
			}
		} else {
			f[i] = rest
			if bytes.IndexByte(rest, ' ') >= 0 {
				return Header{}, malformed(1, "space or extra field after the destination port: %q", rest)
			}
		}
		if len(f[i]) == 0 {
			return Header{}, malformed(1, "empty field: two spaces in a row, or a space before CRLF")
		}
	}
	v6 := proto[3] == '6'
	src, ok := parseV1Addr(f[0], v6)
	if !ok {
		return Header{}, malformed(1, "bad %s source address %q", proto, f[0])
	}
	dst, ok := parseV1Addr(f[1], v6)
	if !ok {
		return Header{}, malformed(1, "bad %s destination address %q", proto, f[1])
	}
	sport, ok := parsePort(f[2])
	if !ok {
		return Header{}, malformed(1, "bad source port %q", f[2])
	}
	dport, ok := parsePort(f[3])
	if !ok {
		return Header{}, malformed(1, "bad destination port %q", f[3])
	}
	return Header{
		Version:     1,
		Source:      netip.AddrPortFrom(src, sport),
		Destination: netip.AddrPortFrom(dst, dport),
	}, nil
}

// parseV1Addr parses an IPv4 address in dotted decimal without leading
// zeros (TCP4), or an IPv6 address without a zone (TCP6), unmapping an
// IPv4-mapped one.
func parseV1Addr(s []byte, v6 bool) (netip.Addr, bool) {
	a, err := netip.ParseAddr(string(s))
	if err != nil || a.Zone() != "" || a.Is6() != v6 {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// parsePort parses a decimal port 0..65535 without leading zeros.
func parsePort(s []byte) (uint16, bool) {
	if len(s) == 0 || len(s) > len("65535") || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if n > 65535 {
		return 0, false
	}
	return uint16(n), true
}

// readV2 reads the rest of a v2 header whose first byte was read.
func readV2(r *bufio.Reader) (Header, error) {
	// The signature and the version one byte at a time, to refuse a
	// stray CR or another version at once.
	for n := 1; n < len(v2Signature); n++ {
		b, err := r.ReadByte()
		if err != nil {
			return Header{}, readError(2, n, err)
		}
		if b != v2Signature[n] {
			return Header{}, malformed(2, "bad signature: byte %d is %q, not %q", n, b, v2Signature[n])
		}
	}
	verCmd, err := r.ReadByte()
	if err != nil {
		return Header{}, readError(2, len(v2Signature), err)
	}
	if verCmd>>4 != 2 {
		return Header{}, malformed(2, "version %d, not 2 (byte 13 is 0x%02x)", verCmd>>4, verCmd)
	}
	cmd := verCmd & 0xf
	if cmd != v2Local && cmd != v2Proxy {
		return Header{}, malformed(2, "command %d is neither LOCAL (0) nor PROXY (1)", cmd)
	}
	var famLen [3]byte // family and transport, length of the rest
	if k, err := io.ReadFull(r, famLen[:]); err != nil {
		return Header{}, readError(2, len(v2Signature)+1+k, err)
	}
	fam := famLen[0]
	size := int(binary.BigEndian.Uint16(famLen[1:]))
	if v2FixedLen+size > MaxV2Length {
		return Header{}, &Error{Reason: TooLong, Version: 2, Detail: fmt.Sprintf("%d bytes of addresses and TLVs: at most %d", size, MaxV2Length-v2FixedLen)}
	}
	var buf [MaxV2Length - v2FixedLen]byte
	body := buf[:size]
	if k, err := io.ReadFull(r, body); err != nil {
		return Header{}, readError(2, v2FixedLen+k, err)
	}
	if cmd == v2Local {
		// The spec: the receiver "must use the real connection endpoints
		// and discard the protocol block including the family which is
		// ignored". TLVs are skipped, as Postfix does.
		return Header{Version: 2, Local: true}, nil
	}
	h := Header{Version: 2}
	switch fam {
	case v2TCP4:
		if size < v2AddrLen4 {
			return Header{}, malformed(2, "%d-byte address block: TCP over IPv4 needs %d", size, v2AddrLen4)
		}
		h.Source = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[0:4])), binary.BigEndian.Uint16(body[8:10]))
		h.Destination = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[4:8])), binary.BigEndian.Uint16(body[10:12]))
	case v2TCP6:
		if size < v2AddrLen6 {
			return Header{}, malformed(2, "%d-byte address block: TCP over IPv6 needs %d", size, v2AddrLen6)
		}
		h.Source = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[0:16])).Unmap(), binary.BigEndian.Uint16(body[32:34]))
		h.Destination = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[16:32])).Unmap(), binary.BigEndian.Uint16(body[34:36]))
	default:
		family, transport := fam>>4, fam&0xf
		if family > 3 || transport > 2 {
			return Header{}, malformed(2, "undefined address family or transport: byte 14 is 0x%02x", fam)
		}
		families := [...]string{"AF_UNSPEC", "AF_INET", "AF_INET6", "AF_UNIX"}
		transports := [...]string{"UNSPEC", "STREAM", "DGRAM"}
		return Header{}, &Error{Reason: Unsupported, Version: 2, Detail: fmt.Sprintf("PROXY command for %s over %s (0x%02x): only TCP over IPv4 or IPv6 is taken", families[family], transports[transport], fam)}
	}
	// What follows the addresses (TLVs) is skipped, as Postfix does.
	return h, nil
}
