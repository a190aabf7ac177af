package smtpdproxy

import (
	"bufio"
	"log/slog"
	"net"
	"strings"
	"testing"
)

func TestEndpoint(t *testing.T) {
	for _, c := range []struct{ in, network, addr string }{
		{"127.0.0.1:10024", "tcp", "127.0.0.1:10024"},
		{"[127.0.0.1]:10024", "tcp", "127.0.0.1:10024"},
		{"inet:[::1]:10024", "tcp", "[::1]:10024"},
		{"INET:localhost:smtp", "tcp", "localhost:smtp"},
		{"10024", "tcp", "localhost:10024"},
		{":10024", "tcp", "localhost:10024"},
		{"unix:/var/run/filter.sock", "unix", "/var/run/filter.sock"},
	} {
		n, a, err := endpoint(c.in)
		if err != nil || n != c.network || a != c.addr {
			t.Errorf("%q: %s %s %v, want %s %s", c.in, n, a, err, c.network, c.addr)
		}
	}
	for _, bad := range []string{"unix:", "host:", "inet:"} {
		if _, _, err := endpoint(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestXforward: the attributes in smtpd_proxy_connect's order, those the
// filter did not announce left out, unknown values "[UNAVAILABLE]",
// xtext-encoded, split at 498 bytes of payload.
func TestXforward(t *testing.T) {
	feats := xforwardFeatures([]string{"250-filter", "250-XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE", "250 8BITMIME"})
	c := Client{Name: "unknown", Addr: "IPv6:2001:db8::1", Port: "4321", Helo: "a b", Proto: "ESMTP"}
	got := c.xforward(feats)
	want := "XFORWARD NAME=[UNAVAILABLE] ADDR=IPv6:2001:db8::1 PORT=4321 HELO=a+20b IDENT=[UNAVAILABLE] PROTO=ESMTP SOURCE=REMOTE"
	if len(got) != 1 || got[0] != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if got := c.xforward(xforwardFeatures([]string{"250 XFORWARD ADDR"})); len(got) != 1 || got[0] != "XFORWARD ADDR=IPv6:2001:db8::1" {
		t.Errorf("ADDR only: %q", got)
	}
	long := Client{Name: strings.Repeat("n", 300), Helo: strings.Repeat("h", 300), Local: true}
	got = long.xforward(feats)
	if len(got) != 2 || !strings.HasPrefix(got[1], "XFORWARD HELO=") || !strings.HasSuffix(got[1], " SOURCE=LOCAL") {
		t.Errorf("long values: %q", got)
	}
	for _, l := range got {
		if len(l)-len("XFORWARD") > payloadLimit {
			t.Errorf("%d bytes of payload", len(l)-len("XFORWARD"))
		}
	}
}

func TestReadReply(t *testing.T) {
	for _, c := range []struct {
		in    string
		code  int
		lines int
		err   bool
	}{
		{"250 ok\r\n", 250, 1, false},
		{"250-a\r\n250-b\r\n250 c\r\n", 250, 3, false},
		{"250-a\r\ngarbage\r\n250\r\n", 250, 3, false},
		{"hello\r\n250 ok\r\n", 0, 0, true},
		{"250-a\r\n", 0, 0, true},
		{"550 x\x01y\n", 550, 1, false},
		{"1234 no\r\n250 ok\r\n", 0, 0, true},
	} {
		rep, err := readReply(bufio.NewReader(strings.NewReader(c.in)))
		if (err != nil) != c.err || rep.Code != c.code || len(rep.Lines) != c.lines {
			t.Errorf("%q: %+v %v", c.in, rep, err)
		}
	}
	rep, _ := readReply(bufio.NewReader(strings.NewReader("550 x\x01y\n")))
	if rep.Lines[0] != "550 x?y" {
		t.Errorf("censored: %q", rep.Lines[0])
	}
}

// FuzzReadReply: whatever a filter sends, a reply read has a 2xx..5xx
// code, printable lines of at most lineLimit bytes, at most lineLimit
// bytes kept in all (a line more), and Split keeps one text per line.
func FuzzReadReply(f *testing.F) {
	for _, s := range []string{"250 ok\r\n", "250-a\r\n250 b\r\n", "550-5.7.1 a\r\n550 5.7.1 b\r\n", "xx\r\n", "2", "354\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		rep, err := readReply(bufio.NewReader(strings.NewReader(in)))
		if err != nil {
			return
		}
		if rep.Code < 200 || rep.Code > 599 || len(rep.Lines) == 0 {
			t.Fatalf("%+v", rep)
		}
		size := 0
		for i, l := range rep.Lines {
			if len(l) > lineLimit {
				t.Fatalf("line of %d bytes", len(l))
			}
			if i > 0 && size >= lineLimit {
				t.Fatalf("kept %d bytes then a line more", size)
			}
			size += len(l) + 2
			for j := 0; j < len(l); j++ {
				if l[j] < ' ' || l[j] >= 0x7f {
					t.Fatalf("unprintable %q", l)
				}
			}
		}
		code, _, text := rep.Split()
		if code != rep.Code || len(text) != len(rep.Lines) {
			t.Fatalf("Split: %d %q", code, text)
		}
	})
}

// TestConnectRefusedWarning: the warning names the filter and the
// system's error as Postfix's smtpd_proxy_connect logs it
// ("connect to proxy filter 127.0.0.1:10099: Connection refused").
func TestConnectRefusedWarning(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var logs strings.Builder
	cfg := &Config{Service: addr, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	if _, rep := Open(t.Context(), cfg, Client{}, "MAIL FROM:<>"); rep == nil || rep.String() != "451 4.3.0 Error: queue file write error" {
		t.Fatalf("reply %v", rep)
	}
	if want := "connect to proxy filter " + addr + ": Connection refused"; !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, logs.String())
	}
}
