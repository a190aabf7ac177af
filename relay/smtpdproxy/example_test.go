package smtpdproxy_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/mxrelay/mxrelay/relay/smtpdproxy"
)

// A filter that refuses one recipient and accepts the message: the
// client gets the filter's replies.
func Example() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		io.WriteString(c, "220 filter ESMTP\r\n")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			switch line = strings.TrimSpace(line); {
			case strings.HasPrefix(line, "EHLO"):
				io.WriteString(c, "250-filter\r\n250 XFORWARD NAME ADDR\r\n")
			case line == "RCPT TO:<nobody@example.net>":
				io.WriteString(c, "550 5.1.1 <nobody@example.net>: unknown\r\n")
			case line == "DATA":
				io.WriteString(c, "354 go ahead\r\n")
				for l, _ := r.ReadString('\n'); l != ".\r\n"; l, _ = r.ReadString('\n') {
				}
				io.WriteString(c, "250 2.0.0 Ok: queued as F1\r\n")
			case line == "QUIT":
				return
			default:
				io.WriteString(c, "250 2.0.0 Ok\r\n")
			}
		}
	}()
	cfg := &smtpdproxy.Config{Service: ln.Addr().String(), EHLO: "mx.example.net"}
	c, rep := smtpdproxy.Open(context.Background(), cfg, smtpdproxy.Client{Addr: "192.0.2.1", Proto: "ESMTP"}, "MAIL FROM:<a@example.org>")
	if rep != nil {
		fmt.Println(rep)
		return
	}
	defer c.Close()
	fmt.Println(c.Rcpt("RCPT TO:<nobody@example.net>"))
	fmt.Println(c.Rcpt("RCPT TO:<b@example.net>") == nil)
	fmt.Println(c.Data() == nil)
	w := c.Message()
	io.WriteString(w, "Subject: hi\n\n.a line with a dot\n")
	end, ok := c.End(w)
	fmt.Println(end, ok)
	// Output:
	// 550 5.1.1 <nobody@example.net>: unknown
	// true
	// true
	// 250 2.0.0 Ok: queued as F1 true
}

// What the client sees of a multi-line refusal, and the reply when the
// filter cannot be reached.
func ExampleReply_Split() {
	r := smtpdproxy.Reply{Code: 550, Lines: []string{"550-5.7.1 first", "550 5.7.1 second"}}
	code, status, text := r.Split()
	fmt.Println(code, status, strings.Join(text, " | "))
	fmt.Println(smtpdproxy.Failure())
	fmt.Println(smtpdproxy.Xtext("a+b c=d"))
	// Output:
	// 550 5.7.1 first | second
	// 451 4.3.0 Error: queue file write error
	// a+2Bb+20c=d
}
