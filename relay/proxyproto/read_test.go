package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
)

// v2hdr builds a v2 header from its version-and-command and family bytes
// and its address block and TLVs; the length is that of body.
func v2hdr(verCmd, fam byte, body ...[]byte) []byte {
	b := append([]byte(v2Signature), verCmd, fam, 0, 0)
	n := 0
	for _, p := range body {
		b = append(b, p...)
		n += len(p)
	}
	binary.BigEndian.PutUint16(b[14:16], uint16(n))
	return b
}

// v2len is v2hdr with the length field set to n, whatever body is.
func v2len(verCmd, fam byte, n int, body ...[]byte) []byte {
	b := v2hdr(verCmd, fam, body...)
	binary.BigEndian.PutUint16(b[14:16], uint16(n))
	return b
}

func be16(n uint16) []byte { return binary.BigEndian.AppendUint16(nil, n) }

func ip(s string) []byte { return netip.MustParseAddr(s).AsSlice() }

func ip16(s string) []byte { a := netip.MustParseAddr(s).As16(); return a[:] }

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

var (
	tcp4Block = bytes.Join([][]byte{ip("192.0.2.1"), ip("198.51.100.1"), be16(4711), be16(25)}, nil)
	tcp6Block = bytes.Join([][]byte{ip16("2001:db8::1"), ip16("2001:db8::25"), be16(4711), be16(25)}, nil)
	// A PP2_TYPE_ALPN TLV and a PP2_TYPE_NOOP one.
	tlvs = []byte{0x01, 0x00, 0x04, 's', 'm', 't', 'p', 0x04, 0x00, 0x02, 0, 0}

	worstV1 = "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"
)

var validTests = []struct {
	name string
	in   string
	want Header
}{
	{"v1 TCP4", "PROXY TCP4 192.0.2.1 198.51.100.1 4711 25\r\n",
		Header{Version: 1, Source: ap("192.0.2.1:4711"), Destination: ap("198.51.100.1:25")}},
	{"v1 TCP4 longest", "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n",
		Header{Version: 1, Source: ap("255.255.255.255:65535"), Destination: ap("255.255.255.255:65535")}},
	{"v1 TCP4 port 0", "PROXY TCP4 0.0.0.0 10.0.0.1 0 0\r\n",
		Header{Version: 1, Source: ap("0.0.0.0:0"), Destination: ap("10.0.0.1:0")}},
	{"v1 TCP6", "PROXY TCP6 2001:db8::1 2001:db8::25 4711 25\r\n",
		Header{Version: 1, Source: ap("[2001:db8::1]:4711"), Destination: ap("[2001:db8::25]:25")}},
	{"v1 TCP6 longest", "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
		Header{Version: 1, Source: ap("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"), Destination: ap("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535")}},
	// Postfix's own test cases: upper case, zero groups written out.
	{"v1 TCP6 upper case", "PROXY TCP6 FC:00:00:00:1:2:3:4 FC:00:00:00:4:3:2:1 123 321\r\n",
		Header{Version: 1, Source: ap("[fc::1:2:3:4]:123"), Destination: ap("[fc::4:3:2:1]:321")}},
	{"v1 TCP6 IPv4-mapped", "PROXY TCP6 ::ffff:1.2.3.4 ::FFFF:4.3.2.1 123 321\r\n",
		Header{Version: 1, Source: ap("1.2.3.4:123"), Destination: ap("4.3.2.1:321")}},
	{"v1 TCP6 one IPv4-mapped", "PROXY TCP6 ::ffff:192.0.2.1 2001:db8::25 4711 25\r\n",
		Header{Version: 1, Source: ap("192.0.2.1:4711"), Destination: ap("[2001:db8::25]:25")}},
	{"v1 UNKNOWN", "PROXY UNKNOWN\r\n", Header{Version: 1, Local: true}},
	{"v1 UNKNOWN worst case", worstV1, Header{Version: 1, Local: true}},
	{"v1 UNKNOWN anything", "PROXY UNKNOWN  not\tchecked at all \x01\r\n", Header{Version: 1, Local: true}},

	{"v2 PROXY TCP4", string(v2hdr(0x21, 0x11, tcp4Block)),
		Header{Version: 2, Source: ap("192.0.2.1:4711"), Destination: ap("198.51.100.1:25")}},
	{"v2 PROXY TCP4 TLVs", string(v2hdr(0x21, 0x11, tcp4Block, tlvs)),
		Header{Version: 2, Source: ap("192.0.2.1:4711"), Destination: ap("198.51.100.1:25")}},
	{"v2 PROXY TCP6", string(v2hdr(0x21, 0x21, tcp6Block)),
		Header{Version: 2, Source: ap("[2001:db8::1]:4711"), Destination: ap("[2001:db8::25]:25")}},
	{"v2 PROXY TCP6 TLVs", string(v2hdr(0x21, 0x21, tcp6Block, tlvs)),
		Header{Version: 2, Source: ap("[2001:db8::1]:4711"), Destination: ap("[2001:db8::25]:25")}},
	{"v2 PROXY TCP6 IPv4-mapped", string(v2hdr(0x21, 0x21, ip16("::ffff:192.0.2.1"), ip16("2001:db8::25"), be16(0), be16(65535))),
		Header{Version: 2, Source: ap("192.0.2.1:0"), Destination: ap("[2001:db8::25]:65535")}},
	{"v2 PROXY longest", string(v2hdr(0x21, 0x21, tcp6Block, make([]byte, MaxV2Length-16-36))),
		Header{Version: 2, Source: ap("[2001:db8::1]:4711"), Destination: ap("[2001:db8::25]:25")}},
	{"v2 LOCAL", string(v2hdr(0x20, 0x00)), Header{Version: 2, Local: true}},
	{"v2 LOCAL with addresses", string(v2hdr(0x20, 0x11, tcp4Block)), Header{Version: 2, Local: true}},
	{"v2 LOCAL any family", string(v2hdr(0x20, 0xff, tlvs)), Header{Version: 2, Local: true}},
}

// readAll runs Read on in through a bufio.Reader of size, and returns what
// is left after the header.
func readAll(in []byte, size int) (Header, []byte, error) {
	r := bufio.NewReaderSize(bytes.NewReader(in), size)
	h, err := Read(r)
	rest, _ := io.ReadAll(r)
	return h, rest, err
}

func TestReadValid(t *testing.T) {
	const smtp = "EHLO client.example\r\nMAIL FROM:<a@example.org>\r\n"
	for _, tt := range validTests {
		for _, size := range []int{16, 4096} {
			h, rest, err := readAll([]byte(tt.in+smtp), size)
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
				continue
			}
			if h != tt.want {
				t.Errorf("%s: got %+v, want %+v", tt.name, h, tt.want)
			}
			if string(rest) != smtp {
				t.Errorf("%s: left %q for the SMTP stream, want %q", tt.name, rest, smtp)
			}
		}
	}
}

func TestReadTruncated(t *testing.T) {
	for _, tt := range validTests {
		for n := range len(tt.in) {
			_, _, err := readAll([]byte(tt.in[:n]), 16)
			var e *Error
			if !errors.As(err, &e) || e.Reason != Truncated {
				t.Errorf("%s cut at %d: got %v, want Truncated", tt.name, n, err)
				continue
			}
			want := io.ErrUnexpectedEOF
			if n == 0 {
				want = io.EOF
			}
			if !errors.Is(err, want) {
				t.Errorf("%s cut at %d: %v does not wrap %v", tt.name, n, err, want)
			}
		}
	}
}

func TestReadInvalid(t *testing.T) {
	const tcp4 = "PROXY TCP4 192.0.2.1 198.51.100.1 4711 25"
	addr4 := func(src, dst string) string { return "PROXY TCP4 " + src + " " + dst + " 4711 25\r\n" }
	addr6 := func(src, dst string) string { return "PROXY TCP6 " + src + " " + dst + " 4711 25\r\n" }
	ports := func(sp, dp string) string { return "PROXY TCP4 192.0.2.1 198.51.100.1 " + sp + " " + dp + "\r\n" }
	tests := []struct {
		name    string
		in      string
		reason  Reason
		version int
	}{
		// Neither version.
		{"SMTP command", "EHLO client.example\r\n", Malformed, 0},
		{"TLS hello", "\x16\x03\x01\x02\x00", Malformed, 0},
		{"lower case", "proxy TCP4 192.0.2.1 198.51.100.1 4711 25\r\n", Malformed, 0},
		{"NUL", "\x00", Malformed, 0},

		// v1 signature and protocol.
		{"v1 bad signature", "PROXX TCP4 192.0.2.1 198.51.100.1 4711 25\r\n", Malformed, 1},
		{"v1 no space", "PROXYTCP4 192.0.2.1 198.51.100.1 4711 25\r\n", Malformed, 1},
		{"v1 two spaces before protocol", "PROXY  TCP4 192.0.2.1 198.51.100.1 4711 25\r\n", Malformed, 1},
		{"v1 lower-case protocol", "PROXY tcp4 192.0.2.1 198.51.100.1 4711 25\r\n", Malformed, 1},
		{"v1 UDP4", "PROXY UDP4 192.0.2.1 198.51.100.1 4711 25\r\n", Malformed, 1},
		{"v1 TCP5", "PROXY TCP5 192.0.2.1 198.51.100.1 4711 25\r\n", Malformed, 1},
		{"v1 UNKNOWNX", "PROXY UNKNOWNX\r\n", Malformed, 1},
		{"v1 empty", "PROXY \r\n", Malformed, 1},
		{"v1 BLAH", "PROXY BLAH\r\n", Malformed, 1},

		// v1 fields and spacing.
		{"v1 TCP4 alone", "PROXY TCP4\r\n", Malformed, 1},
		{"v1 TCP4 space", "PROXY TCP4 \r\n", Malformed, 1},
		{"v1 no ports", "PROXY TCP4 192.0.2.1 198.51.100.1\r\n", Malformed, 1},
		{"v1 one port", "PROXY TCP4 192.0.2.1 198.51.100.1 4711\r\n", Malformed, 1},
		{"v1 extra field", tcp4 + " 587\r\n", Malformed, 1},
		{"v1 trailing space", tcp4 + " \r\n", Malformed, 1},
		{"v1 two spaces between addresses", "PROXY TCP4 192.0.2.1  198.51.100.1 4711 25\r\n", Malformed, 1},
		{"v1 two spaces between ports", "PROXY TCP4 192.0.2.1 198.51.100.1 4711  25\r\n", Malformed, 1},
		{"v1 tab", "PROXY TCP4 192.0.2.1\t198.51.100.1 4711 25\r\n", Malformed, 1},

		// v1 line end.
		{"v1 bare LF", tcp4 + "\n", Malformed, 1},
		{"v1 bare CR", tcp4 + "\rEHLO x\r\n", Malformed, 1},
		{"v1 CR CR LF", tcp4 + "\r\r\n", Malformed, 1},
		{"v1 UNKNOWN bare LF", "PROXY UNKNOWN\n", Malformed, 1},
		{"v1 CR inside", "PROXY TCP4\r 192.0.2.1 198.51.100.1 4711 25\r\n", Malformed, 1},
		{"v1 108 bytes", worstV1[:len(worstV1)-2] + "f\r\n", TooLong, 1},
		{"v1 no CRLF", "PROXY TCP4 " + strings.Repeat("1", 200), TooLong, 1},
		{"v1 CRLF at 108", "PROXY UNKNOWN " + strings.Repeat("x", 106-14) + "\r\n", TooLong, 1},

		// v1 addresses: the spec's syntax (Postfix takes leading zeros).
		{"v1 leading zero octet", addr4("01.02.03.04", "198.51.100.1"), Malformed, 1},
		{"v1 octet 256", addr4("256.0.2.1", "198.51.100.1"), Malformed, 1},
		{"v1 three octets", addr4("192.0.2", "198.51.100.1"), Malformed, 1},
		{"v1 five octets", addr4("192.0.2.1.5", "198.51.100.1"), Malformed, 1},
		{"v1 TCP4 IPv6 source", addr4("2001:db8::1", "198.51.100.1"), Malformed, 1},
		{"v1 TCP4 IPv4-mapped destination", addr4("192.0.2.1", "::ffff:198.51.100.1"), Malformed, 1},
		{"v1 TCP4 hostname", addr4("mx.example", "198.51.100.1"), Malformed, 1},
		{"v1 TCP4 bad destination", addr4("192.0.2.1", "198.51.100.x"), Malformed, 1},
		{"v1 TCP6 IPv4 source", addr6("192.0.2.1", "2001:db8::25"), Malformed, 1},
		{"v1 TCP6 IPv4 destination", addr6("2001:db8::1", "198.51.100.1"), Malformed, 1},
		{"v1 TCP6 zone", addr6("fe80::1%eth0", "2001:db8::25"), Malformed, 1},
		{"v1 TCP6 two double colons", addr6("2001::db8::1", "2001:db8::25"), Malformed, 1},
		{"v1 TCP6 five hex digits", addr6("2001:0db80::1", "2001:db8::25"), Malformed, 1},
		{"v1 TCP6 brackets", addr6("[2001:db8::1]", "2001:db8::25"), Malformed, 1},

		// v1 ports (as Postfix's valid_hostport).
		{"v1 leading zero source port", ports("0123", "25"), Malformed, 1},
		{"v1 leading zero destination port", ports("4711", "025"), Malformed, 1},
		{"v1 port 65536", ports("65536", "25"), Malformed, 1},
		{"v1 port 123456", ports("123456", "25"), Malformed, 1},
		{"v1 port 654321", ports("4711", "654321"), Malformed, 1},
		{"v1 negative port", ports("-1", "25"), Malformed, 1},
		{"v1 plus port", ports("+1", "25"), Malformed, 1},
		{"v1 hex port", ports("0x19", "25"), Malformed, 1},
		{"v1 named port", ports("4711", "smtp"), Malformed, 1},

		// v2 signature, version, command.
		{"v2 bad signature", "\r\n\r\n\x01\r\nQUIT\n\x21\x11\x00\x0c", Malformed, 2},
		{"v2 CRLF only", "\r\nEHLO x\r\n", Malformed, 2},
		{"v2 version 1", string(v2hdr(0x11, 0x11, tcp4Block)), Malformed, 2},
		{"v2 version 3", string(v2hdr(0x31, 0x11, tcp4Block)), Malformed, 2},
		{"v2 version 0", string(v2hdr(0x01, 0x11, tcp4Block)), Malformed, 2},
		{"v2 command 2", string(v2hdr(0x22, 0x11, tcp4Block)), Malformed, 2},
		{"v2 command 15", string(v2hdr(0x2f, 0x11, tcp4Block)), Malformed, 2},

		// v2 family and transport.
		{"v2 family 4", string(v2hdr(0x21, 0x41, tcp4Block)), Malformed, 2},
		{"v2 family 15", string(v2hdr(0x21, 0xf1, tcp4Block)), Malformed, 2},
		{"v2 transport 3", string(v2hdr(0x21, 0x13, tcp4Block)), Malformed, 2},
		{"v2 PROXY UNSPEC", string(v2hdr(0x21, 0x00)), Unsupported, 2},
		{"v2 PROXY AF_INET UNSPEC", string(v2hdr(0x21, 0x10, tcp4Block)), Unsupported, 2},
		{"v2 PROXY UDP4", string(v2hdr(0x21, 0x12, tcp4Block)), Unsupported, 2},
		{"v2 PROXY UDP6", string(v2hdr(0x21, 0x22, tcp6Block)), Unsupported, 2},
		{"v2 PROXY UNIX stream", string(v2hdr(0x21, 0x31, make([]byte, 216))), Unsupported, 2},
		{"v2 PROXY UNIX dgram", string(v2hdr(0x21, 0x32, make([]byte, 216))), Unsupported, 2},

		// v2 lengths.
		{"v2 TCP4 block 11 bytes", string(v2hdr(0x21, 0x11, tcp4Block[:11])), Malformed, 2},
		{"v2 TCP4 block empty", string(v2hdr(0x21, 0x11)), Malformed, 2},
		{"v2 TCP6 block of TCP4 size", string(v2hdr(0x21, 0x21, tcp4Block)), Malformed, 2},
		{"v2 TCP6 block 35 bytes", string(v2hdr(0x21, 0x21, tcp6Block[:35])), Malformed, 2},
		{"v2 537 bytes", string(v2hdr(0x21, 0x21, tcp6Block, make([]byte, MaxV2Length-16-36+1))), TooLong, 2},
		{"v2 length 65535", string(v2len(0x21, 0x11, 65535, tcp4Block)), TooLong, 2},
		{"v2 LOCAL length 65535", string(v2len(0x20, 0x00, 65535)), TooLong, 2},
		{"v2 length beyond data", string(v2len(0x21, 0x11, 100, tcp4Block)), Truncated, 2},
	}
	for _, tt := range tests {
		_, _, err := readAll([]byte(tt.in), 4096)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%s: got %v, want an *Error", tt.name, err)
			continue
		}
		if e.Reason != tt.reason || e.Version != tt.version {
			t.Errorf("%s: got %v (reason %v, version %d), want reason %v, version %d", tt.name, err, e.Reason, e.Version, tt.reason, tt.version)
		}
		if e.Reason != Truncated && e.Reason != ReadFailed && e.Err != nil {
			t.Errorf("%s: %v wraps %v", tt.name, err, e.Err)
		}
	}
}

// TestReadStopsEarly: a bad header is refused at its first bad byte,
// without waiting for the rest (a stalled sender would not do).
func TestReadStopsEarly(t *testing.T) {
	for _, in := range []string{"PROXI", "P\r", "\r\n\r\n\x01", "\r\n\r\n\x00\r\nQUIT\n\x31", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"} {
		// A reader that fails the test if Read wants more than in.
		r := bufio.NewReaderSize(io.MultiReader(strings.NewReader(in), failReader{t, in}), 16)
		_, err := Read(r)
		var e *Error
		if !errors.As(err, &e) || e.Reason != Malformed {
			t.Errorf("%q: got %v, want Malformed", in, err)
		}
	}
}

type failReader struct {
	t  *testing.T
	in string
}

func (f failReader) Read([]byte) (int, error) {
	f.t.Errorf("%q: Read wants more bytes", f.in)
	return 0, io.EOF
}

// TestReadAtMost: Read consumes at most MaxV1Length or MaxV2Length bytes,
// whatever follows.
func TestReadAtMost(t *testing.T) {
	for _, in := range [][]byte{
		[]byte("PROXY UNKNOWN " + strings.Repeat("x", 1000)),
		v2len(0x21, 0x21, 65535, make([]byte, 70000)),
	} {
		r := bytes.NewReader(in)
		br := bufio.NewReaderSize(r, 16)
		_, err := Read(br)
		var e *Error
		if !errors.As(err, &e) || e.Reason != TooLong {
			t.Errorf("%.20q: got %v, want TooLong", in, err)
		}
		consumed := len(in) - r.Len() - br.Buffered()
		if consumed > MaxV2Length {
			t.Errorf("%.20q: consumed %d bytes", in, consumed)
		}
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"PROXY TCP4 192.0.2.1 198.51.100.1 0123 25\r\n", `proxyproto: v1 header malformed: bad source port "0123"`},
		{"EHLO", `proxyproto: header malformed: first byte 'E' starts neither "PROXY" (v1) nor the v2 signature`},
		{"PROXY TCP4", "proxyproto: v1 header truncated: connection closed after 10 bytes: unexpected EOF"},
		{"", "proxyproto: header truncated: connection closed before the header: EOF"},
		{string(v2hdr(0x21, 0x31, make([]byte, 216))), "proxyproto: v2 header unsupported: PROXY command for AF_UNIX over STREAM (0x31): only TCP over IPv4 or IPv6 is taken"},
	}
	for _, tt := range tests {
		_, _, err := readAll([]byte(tt.in), 16)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%q: got %v, want %s", tt.in, err, tt.want)
		}
	}
}

func TestHeaderString(t *testing.T) {
	for _, tt := range []struct {
		h    Header
		want string
	}{
		{Header{Version: 1, Source: ap("192.0.2.1:4711"), Destination: ap("198.51.100.1:25")}, "PROXY v1 192.0.2.1:4711 -> 198.51.100.1:25"},
		{Header{Version: 2, Source: ap("[2001:db8::1]:4711"), Destination: ap("[2001:db8::25]:25")}, "PROXY v2 [2001:db8::1]:4711 -> [2001:db8::25]:25"},
		{Header{Version: 1, Local: true}, "PROXY v1 UNKNOWN"},
		{Header{Version: 2, Local: true}, "PROXY v2 LOCAL"},
	} {
		if got := tt.h.String(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

// TestEncode checks the test encoder against the valid cases it can
// reproduce byte for byte.
func TestEncode(t *testing.T) {
	for _, tt := range validTests {
		switch tt.name {
		case "v1 TCP4", "v1 TCP4 longest", "v1 TCP4 port 0", "v1 TCP6", "v1 UNKNOWN",
			"v2 PROXY TCP4", "v2 PROXY TCP6", "v2 LOCAL":
			if got := encode(tt.want, nil); string(got) != tt.in {
				t.Errorf("%s: encode gives %q, want %q", tt.name, got, tt.in)
			}
		}
	}
	if got, want := encode(validTests[7].want, nil), "PROXY TCP6 ::ffff:192.0.2.1 2001:db8::25 4711 25\r\n"; string(got) != want {
		t.Errorf("encode gives %q, want %q", got, want)
	}
}
