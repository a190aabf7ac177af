package proxyproto

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// sendSlowly writes b to c one byte at a time, pausing between bytes, and
// reports the first error on done.
func sendSlowly(c net.Conn, b []byte, pause time.Duration) <-chan error {
	done := make(chan error, 1)
	go func() {
		for i := range b {
			if _, err := c.Write(b[i : i+1]); err != nil {
				done <- err
				return
			}
			time.Sleep(pause)
		}
		done <- nil
	}()
	return done
}

// TestSlowSender: a header that comes one byte at a time is read whole
// within the deadline (Postfix, which peeks once, would refuse it), and the
// SMTP stream after it reaches the Conn.
func TestSlowSender(t *testing.T) {
	for _, tt := range validTests {
		server, client := net.Pipe()
		const smtp = "EHLO client.example\r\n"
		// net.Pipe hands over each one-byte write on its own; the first
		// case also takes its time, a quarter of the deadline.
		pause := time.Duration(0)
		if tt.name == validTests[0].name {
			pause = 250 * time.Millisecond / time.Duration(len(tt.in))
		}
		done := sendSlowly(client, []byte(tt.in+smtp), pause)
		if err := server.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(server)
		h, err := Read(r)
		if err != nil || h != tt.want {
			t.Errorf("%s: got %+v, %v; want %+v", tt.name, h, err, tt.want)
		}
		c := NewConn(server, r, h)
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || line != smtp {
			t.Errorf("%s: after the header, read %q, %v; want %q", tt.name, line, err, smtp)
		}
		server.Close() // a failed read must not leave the sender blocked
		if err := <-done; err != nil && err != io.ErrClosedPipe {
			t.Errorf("%s: sender: %v", tt.name, err)
		}
		client.Close()
	}
}

// TestStalledSender: a sender that stops mid-header is cut off by the
// conn's read deadline, and so is one that sends nothing.
func TestStalledSender(t *testing.T) {
	for _, tt := range []struct {
		name    string
		in      string
		version int
	}{
		{"nothing", "", 0},
		{"v1", validTests[0].in[:20], 1},
		{"v1 without CRLF", validTests[0].in[:len(validTests[0].in)-2], 1},
		{"v2 fixed part", string(v2hdr(0x21, 0x11, tcp4Block)[:14]), 2},
		{"v2 address block", string(v2hdr(0x21, 0x11, tcp4Block)[:20]), 2},
	} {
		server, client := net.Pipe()
		done := sendSlowly(client, []byte(tt.in), 0)
		if err := server.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err := Read(bufio.NewReader(server))
		var e *Error
		if !errors.As(err, &e) || e.Reason != ReadFailed || e.Version != tt.version || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%s: got %v, want a v%d ReadFailed deadline error", tt.name, err, tt.version)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: took %v", tt.name, d)
		}
		if err := <-done; err != nil {
			t.Errorf("%s: sender: %v", tt.name, err)
		}
		server.Close()
		client.Close()
	}
}

// TestClosedMidHeader: a sender that closes mid-header gives Truncated at
// once, over a pipe as well as from a byte slice.
func TestClosedMidHeader(t *testing.T) {
	in := v2hdr(0x21, 0x21, tcp6Block, tlvs)
	for n := range len(in) {
		server, client := net.Pipe()
		go func() {
			client.Write(in[:n])
			client.Close()
		}()
		_, err := Read(bufio.NewReader(server))
		var e *Error
		if !errors.As(err, &e) || e.Reason != Truncated {
			t.Errorf("closed after %d bytes: got %v, want Truncated", n, err)
		}
		server.Close()
	}
}

// dial returns both ends of a new loopback TCP connection.
func dial(t *testing.T) (server, client net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		server.Close()
		client.Close()
	})
	return server, client
}

func TestHandshake(t *testing.T) {
	server, client := dial(t)
	// The header and the first command in one segment.
	if _, err := client.Write(append(v2hdr(0x21, 0x21, tcp6Block, tlvs), "EHLO client.example\r\n"...)); err != nil {
		t.Fatal(err)
	}
	pc, err := Handshake(server, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := pc.RemoteAddr().String(), "[2001:db8::1]:4711"; got != want {
		t.Errorf("RemoteAddr %s, want %s", got, want)
	}
	if got, want := pc.LocalAddr().String(), "[2001:db8::25]:25"; got != want {
		t.Errorf("LocalAddr %s, want %s", got, want)
	}
	if _, ok := pc.RemoteAddr().(*net.TCPAddr); !ok {
		t.Errorf("RemoteAddr is a %T", pc.RemoteAddr())
	}
	if pc.NetConn() != server || pc.Header().Version != 2 {
		t.Errorf("NetConn %v, Header %v", pc.NetConn(), pc.Header())
	}
	r := bufio.NewReader(pc)
	if line, err := r.ReadString('\n'); err != nil || line != "EHLO client.example\r\n" {
		t.Errorf("read %q, %v", line, err)
	}
	// The handshake's deadline is gone.
	time.Sleep(100 * time.Millisecond)
	if _, err := client.Write([]byte("QUIT\r\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := r.ReadString('\n'); err != nil || line != "QUIT\r\n" {
		t.Errorf("after the handshake's deadline, read %q, %v", line, err)
	}
	// Writes, deadlines and Close reach the connection.
	if err := pc.SetDeadline(time.Now().Add(time.Second)); err != nil {
		t.Error(err)
	}
	if err := pc.SetWriteDeadline(time.Now().Add(time.Second)); err != nil {
		t.Error(err)
	}
	if _, err := pc.Write([]byte("221 Bye\r\n")); err != nil {
		t.Error(err)
	}
	if err := pc.Close(); err != nil {
		t.Error(err)
	}
	if got, err := io.ReadAll(client); err != nil || string(got) != "221 Bye\r\n" {
		t.Errorf("client read %q, %v", got, err)
	}
	if err := pc.SetReadDeadline(time.Now()); err == nil {
		t.Error("SetReadDeadline after Close succeeded")
	}
}

func TestHandshakeLocal(t *testing.T) {
	for _, in := range []string{"PROXY UNKNOWN\r\n", string(v2hdr(0x20, 0x00))} {
		server, client := dial(t)
		if _, err := client.Write([]byte(in)); err != nil {
			t.Fatal(err)
		}
		pc, err := Handshake(server, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if pc.RemoteAddr().String() != client.LocalAddr().String() || pc.LocalAddr().String() != server.LocalAddr().String() {
			t.Errorf("%q: addresses %v %v, want the connection's own %v %v", in, pc.RemoteAddr(), pc.LocalAddr(), client.LocalAddr(), server.LocalAddr())
		}
	}
}

func TestHandshakeErrors(t *testing.T) {
	// No header within the time limit.
	server, _ := dial(t)
	if _, err := Handshake(server, 50*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("silent client: got %v, want a deadline error", err)
	}

	// A TCP health check: connect and close.
	server, client := dial(t)
	client.Close()
	var e *Error
	if _, err := Handshake(server, time.Second); !errors.As(err, &e) || e.Reason != Truncated || !errors.Is(err, io.EOF) {
		t.Errorf("health check: got %v, want Truncated with io.EOF", err)
	}

	// Plain SMTP on a PROXY port.
	server, client = dial(t)
	client.Write([]byte("EHLO client.example\r\n"))
	if _, err := Handshake(server, time.Second); !errors.As(err, &e) || e.Reason != Malformed {
		t.Errorf("SMTP client: got %v, want Malformed", err)
	}

	// A closed conn cannot take a deadline.
	server, _ = dial(t)
	server.Close()
	if _, err := Handshake(server, time.Second); !errors.As(err, &e) || e.Reason != ReadFailed {
		t.Errorf("closed conn: got %v, want ReadFailed", err)
	}
}

func TestNewConnNilReader(t *testing.T) {
	server, client := net.Pipe()
	defer server.Close()
	defer client.Close()
	go client.Write([]byte("QUIT\r\n"))
	c := NewConn(server, nil, Header{Version: 2, Local: true})
	buf := make([]byte, 6)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "QUIT\r\n" {
		t.Errorf("read %q, %v", buf, err)
	}
}
