package proxyproto_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/mxrelay/mxrelay/relay/proxyproto"
)

// A server with a bufio.Reader of its own reads the header under its own
// deadline, then keeps reading the SMTP stream from the same reader.
func ExampleRead() {
	r := bufio.NewReader(strings.NewReader("PROXY TCP4 192.0.2.1 198.51.100.1 4711 25\r\nEHLO client.example\r\n"))
	h, err := proxyproto.Read(r)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(h)
	fmt.Println("client:", h.Source.Addr(), "port", h.Source.Port())
	line, _ := r.ReadString('\n')
	fmt.Printf("then: %q\n", line)
	// Output:
	// PROXY v1 192.0.2.1:4711 -> 198.51.100.1:25
	// client: 192.0.2.1 port 4711
	// then: "EHLO client.example\r\n"
}

// Handshake reads the header within smtpd_upstream_proxy_timeout and
// wraps the connection, so that the rest of the server sees the client's
// address.
func ExampleHandshake() {
	server, proxy := net.Pipe()
	defer server.Close()
	go func() {
		// A v2 header for [2001:db8::1]:4711 -> [2001:db8::25]:25, then the
		// client's first command.
		hdr := []byte("\r\n\r\n\x00\r\nQUIT\n\x21\x21\x00\x24")
		hdr = append(hdr, net.ParseIP("2001:db8::1")...)
		hdr = append(hdr, net.ParseIP("2001:db8::25")...)
		hdr = append(hdr, 0x12, 0x67, 0x00, 25)
		proxy.Write(append(hdr, "EHLO client.example\r\n"...))
		proxy.Close()
	}()

	pc, err := proxyproto.Handshake(server, proxyproto.DefaultTimeout)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("client", pc.RemoteAddr(), "connected to", pc.LocalAddr())
	rest, _ := io.ReadAll(pc)
	fmt.Printf("then: %q\n", rest)
	// Output:
	// client [2001:db8::1]:4711 connected to [2001:db8::25]:25
	// then: "EHLO client.example\r\n"
}

// Errors tell a health check that connected and closed, a client that
// sent no header in time, and a bad header apart.
func ExampleError() {
	for _, in := range []string{
		"",
		"PROXY TCP4 192.0.2.1 198.51.100.1 4711",
		"PROXY TCP4 192.0.2.1 198.51.100.1 04711 25\r\n",
		"EHLO client.example\r\n",
	} {
		_, err := proxyproto.Read(bufio.NewReader(strings.NewReader(in)))
		var e *proxyproto.Error
		if errors.As(err, &e) {
			fmt.Printf("%-9s health check: %-5v %v\n", e.Reason, errors.Is(err, io.EOF), err)
		}
	}
	// Output:
	// truncated health check: true  proxyproto: header truncated: connection closed before the header: EOF
	// truncated health check: false proxyproto: v1 header truncated: connection closed after 38 bytes: unexpected EOF
	// malformed health check: false proxyproto: v1 header malformed: bad source port "04711"
	// malformed health check: false proxyproto: header malformed: first byte 'E' starts neither "PROXY" (v1) nor the v2 signature
}
