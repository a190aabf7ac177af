package lookup

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// lineServer is an in-process loopback server for the socketmap: and
// tcp: tests: it reads requests with read, answers each with answer's
// reply (raw bytes, framing included), and counts connections.
type lineServer struct {
	ln    net.Listener
	conns atomic.Int32
	// hangUp, when set, closes each connection after one reply, as a
	// server that restarted between two lookups.
	hangUp atomic.Bool
	mu     sync.Mutex
	seen   []string
	open   []net.Conn
	wg     sync.WaitGroup
}

// startServer starts a server on network ("tcp" on 127.0.0.1:0, or
// "unix" in a temporary directory).
func startServer(t testing.TB, network string, read func(*bufio.Reader) (string, error), answer func(req string) string) *lineServer {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = t.TempDir() + "/sockmap.sock"
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &lineServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			s.mu.Lock()
			s.open = append(s.open, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					req, err := read(r)
					if err != nil {
						return
					}
					s.mu.Lock()
					s.seen = append(s.seen, req)
					s.mu.Unlock()
					reply := answer(req)
					if reply == "" { // stall: answer nothing, keep the connection
						continue
					}
					if _, err := c.Write([]byte(reply)); err != nil || s.hangUp.Load() {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.open {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *lineServer) addr() string { return s.ln.Addr().String() }

func (s *lineServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

// deadAddr returns a loopback address where nothing listens.
func deadAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

// readNetstringReq reads a socketmap request.
func readNetstringReq(r *bufio.Reader) (string, error) { return readNetstring(r, 1<<20) }

// readTCPReq reads a tcp_table request line, without its '\n'.
func readTCPReq(r *bufio.Reader) (string, error) {
	l, err := r.ReadString('\n')
	return strings.TrimSuffix(l, "\n"), err
}
