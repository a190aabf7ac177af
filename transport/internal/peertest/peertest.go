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
	"testing"
)

// Script starts a peer and returns its address. greeting is sent first;
// when it is empty the peer never says anything (the client times out).
// reply answers each command line, and the "." line that ends DATA content
// (content lines after a 354 reply are skipped); "" closes the connection.
// Replies are written as given (include CRLF). The peer stops at test
// cleanup.
func Script(t testing.TB, greeting string, reply func(cmd string) string) string {
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
			wg.Go(func() { serve(c, greeting, reply) })
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

func serve(c net.Conn, greeting string, reply func(string) string) {
	defer c.Close()
	if greeting == "" {
		_, _ = io.Copy(io.Discard, c)
		return
	}
	if _, err := io.WriteString(c, greeting); err != nil {
		return
	}
	br := bufio.NewReader(c)
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
		if strings.HasPrefix(out, "354") {
			inData = true
		}
		if _, err := io.WriteString(c, out); err != nil {
			return
		}
	}
}
