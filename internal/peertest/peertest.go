// Package peertest provides a scripted SMTP peer on 127.0.0.1:0 for the
// tests of transport and transport/client: it produces the behaviour a
// go-smtp server cannot (a 4xx banner, a refused EHLO, silence, malformed
// replies).
package peertest

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Script starts a peer and returns its address. greeting is sent first;
// when it is empty the peer never says anything (the client times out).
// reply answers each command line, and the "." line that ends DATA content
// (content lines after a 354 reply are skipped); "" closes the connection.
// Replies are written as given (include CRLF), up to a marker (Hang, Die,
// ...) that makes the peer misbehave. The peer stops at test cleanup.
func Script(t testing.TB, greeting string, reply func(cmd string) string) string {
	t.Helper()
	return listen(t, func(c net.Conn) { Serve(c, greeting, reply) })
}

// listen accepts connections on 127.0.0.1:0 and runs handle on each until
// test cleanup, which closes the listener and every connection and waits
// for the handlers.
func listen(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { handle(c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// Markers a greeting or reply may end with: the text before the marker is
// written, then the peer misbehaves as named.
const (
	Hang       = "\x00hang"        // stop answering; read until the client closes
	Die        = "\x00die"         // close the connection
	DieInData  = "\x00die-in-data" // read 100 bytes of content, then close
	FloodLine  = "\x00flood-line"  // send one endless line without a line ending
	FloodLines = "\x00flood-lines" // send endless "250-" continuation lines
	GarbageTLS = "\x00garbage-tls" // answer the TLS ClientHello in clear text
)

// Serve runs the scripted dialogue of Script on c and closes it. It returns
// when the dialogue ends or the client closes its end.
func Serve(c net.Conn, greeting string, reply func(cmd string) string) {
	defer c.Close()
	br := bufio.NewReader(c)
	if greeting == "" {
		greeting = Hang
	}
	if !say(c, br, greeting) {
		return
	}
	inData := false
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		if inData {
			if line != "." {
				continue
			}
			inData = false
		}
		out := reply(line)
		if out == "" {
			return
		}
		if strings.HasPrefix(out, "354") && !strings.Contains(out, "\x00") {
			inData = true
		}
		if !say(c, br, out) {
			return
		}
	}
}

// say writes out up to its marker and carries the marker out. It reports
// whether the dialogue goes on.
func say(c net.Conn, br *bufio.Reader, out string) bool {
	text, marker, found := strings.Cut(out, "\x00")
	if _, err := io.WriteString(c, text); err != nil || !found {
		return err == nil
	}
	flood := func(chunk []byte) {
		for {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}
	switch "\x00" + marker {
	case Hang:
		_, _ = io.Copy(io.Discard, br)
	case DieInData:
		_, _ = br.Discard(100)
	case FloodLine:
		flood([]byte(strings.Repeat("x", 4096)))
	case FloodLines:
		flood([]byte(strings.Repeat("250-"+strings.Repeat("k", 60)+"\r\n", 64)))
	case GarbageTLS:
		// Read the whole ClientHello record (an in-memory pipe has no
		// buffer to hold it), then answer in clear.
		hdr := make([]byte, 5)
		if _, err := io.ReadFull(br, hdr); err == nil {
			if _, err := br.Discard(int(hdr[3])<<8 | int(hdr[4])); err == nil {
				_, _ = io.WriteString(c, "this is not TLS\r\n")
			}
		}
		_, _ = io.Copy(io.Discard, br)
	}
	return false
}

// Sink starts a fast SMTP sink for benchmarks: it offers PIPELINING and
// 8BITMIME, accepts every command, skips the content, and answers pipelined
// commands in one write. It returns the address and a function that counts
// the messages accepted so far.
func Sink(t testing.TB) (addr string, messages func() int64) {
	t.Helper()
	n := new(atomic.Int64)
	return listen(t, func(c net.Conn) { sink(c, n) }), n.Load
}

func sink(c net.Conn, n *atomic.Int64) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 64<<10)
	bw := bufio.NewWriterSize(c, 4<<10)
	bw.WriteString("220 sink.test ESMTP\r\n")
	bw.Flush()
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		verb := line
		if len(verb) > 4 {
			verb = verb[:4]
		}
		switch strings.ToUpper(string(verb)) {
		case "EHLO", "LHLO":
			bw.WriteString("250-sink.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 0\r\n")
		case "DATA":
			bw.WriteString("354 go ahead\r\n")
			bw.Flush()
			for {
				l, err := br.ReadSlice('\n')
				if err == bufio.ErrBufferFull {
					continue
				}
				if err != nil {
					return
				}
				if len(l) == 3 && l[0] == '.' {
					break
				}
			}
			n.Add(1)
			bw.WriteString("250 2.0.0 Ok: queued\r\n")
		case "QUIT":
			bw.WriteString("221 2.0.0 Bye\r\n")
			bw.Flush()
			return
		default:
			bw.WriteString("250 2.0.0 Ok\r\n")
		}
		if br.Buffered() == 0 {
			if bw.Flush() != nil {
				return
			}
		}
	}
}
