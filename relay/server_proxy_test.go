package relay

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/queue"
)

// clientRecorder is an MX whose policy records the client address of
// each connection.
func clientRecorder(t *testing.T) (*MX, func() []netip.Addr) {
	var mu sync.Mutex
	var seen []netip.Addr
	mx, err := New(Config{
		Hostname: "mx.example.net",
		Queue:    queue.NewScheduler(queue.NewMemory(), queue.Config{}),
		Policy: CheckerFunc(func(ctx context.Context, r *policy.Request) policy.Decision {
			if r.Stage == policy.StageConnect {
				mu.Lock()
				seen = append(seen, r.ClientAddr)
				mu.Unlock()
			}
			return policy.Decision{}
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	return mx, func() []netip.Addr {
		mu.Lock()
		defer mu.Unlock()
		return append([]netip.Addr(nil), seen...)
	}
}

// proxyV2 encodes a PROXY version 2 header for TCP over IPv4.
func proxyV2(src, dst netip.AddrPort) []byte {
	b := []byte("\r\n\r\n\x00\r\nQUIT\n")
	b = append(b, 0x21, 0x11, 0, 12)
	s4, d4 := src.Addr().As4(), dst.Addr().As4()
	b = append(b, s4[:]...)
	b = append(b, d4[:]...)
	b = binary.BigEndian.AppendUint16(b, src.Port())
	return binary.BigEndian.AppendUint16(b, dst.Port())
}

// TestProxyProtocol: with smtpd_upstream_proxy_protocol = haproxy the
// session sees the client the PROXY header names (version 1 and 2); a
// connection without a valid header (malformed, truncated, UNKNOWN,
// plain SMTP, or silent past the timeout) is answered Postfix's "421
// 4.3.0 HOSTNAME Server local error" and closed, and reaches no session.
func TestProxyProtocol(t *testing.T) {
	mx, seen := clientRecorder(t)
	_, addr := serve(t, ServerConfig{MX: mx, ProxyProtocol: true, ProxyTimeout: 300 * time.Millisecond})
	talk := func(t *testing.T, header []byte, closeWrite bool) string {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write(header)
		if closeWrite {
			c.(*net.TCPConn).CloseWrite()
		}
		line, _ := bufio.NewReader(c).ReadString('\n')
		return strings.TrimRight(line, "\r\n")
	}
	if got := talk(t, []byte("PROXY TCP4 192.0.2.7 198.51.100.1 4711 25\r\n"), false); got != "220 mx.example.net ESMTP Postfix" {
		t.Errorf("v1: %q", got)
	}
	v2 := proxyV2(netip.MustParseAddrPort("203.0.113.9:5000"), netip.MustParseAddrPort("198.51.100.1:25"))
	if got := talk(t, v2, false); got != "220 mx.example.net ESMTP Postfix" {
		t.Errorf("v2: %q", got)
	}
	const refused = "421 4.3.0 mx.example.net Server local error"
	for name, tc := range map[string]struct {
		header     string
		closeWrite bool
	}{
		"malformed":  {"PROXY TCP9 192.0.2.7 198.51.100.1 4711 25\r\n", false},
		"truncated":  {"PROXY TCP4 192.0.2.7 198.51", true},
		"truncated2": {string(v2[:20]), true},
		"unknown":    {"PROXY UNKNOWN\r\n", false},
		"plain SMTP": {"EHLO client.example\r\n", false},
		"silent":     {"", false},
	} {
		if got := talk(t, []byte(tc.header), tc.closeWrite); got != refused {
			t.Errorf("%s: %q, want %q", name, got, refused)
		}
	}
	want := []netip.Addr{netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("203.0.113.9")}
	if got := seen(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("sessions saw clients %v, want %v", got, want)
	}
}

// TestConnectionLimitExceptions: the per-client connection limit does
// not apply to the clients of smtpd_client_event_limit_exceptions
// (default $mynetworks), as in Postfix: a 100-session load from the
// relay's own network is not refused.
func TestConnectionLimitExceptions(t *testing.T) {
	for _, exempt := range []bool{false, true} {
		mx, _ := clientRecorder(t)
		sc := ServerConfig{MX: mx, MaxConnectionsPerClient: 1}
		if exempt {
			sc.LimitExempt = func(ctx context.Context, a netip.Addr) bool { return a.IsLoopback() }
		}
		_, addr := serve(t, sc)
		var greetings []string
		for range 2 {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil && err != io.EOF {
				t.Fatal(err)
			}
			greetings = append(greetings, strings.TrimRight(line, "\r\n"))
		}
		second := greetings[1]
		switch {
		case exempt && !strings.HasPrefix(second, "220 "):
			t.Errorf("exempt client, second connection: %q", second)
		case !exempt && second != "421 4.7.0 mx.example.net Error: too many connections from 127.0.0.1":
			t.Errorf("second connection: %q", second)
		}
	}
}
