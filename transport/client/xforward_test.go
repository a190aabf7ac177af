package client

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/internal/peertest"
)

// xforwardPeer is a loopback SMTP peer that announces ehloExtra in its
// EHLO reply, answers XFORWARD with xfReply and records every command.
type xforwardPeer struct {
	addr string
	mu   sync.Mutex
	cmds []string
}

func newXForwardPeer(t *testing.T, ehloExtra []string, xfReply string) *xforwardPeer {
	t.Helper()
	p := &xforwardPeer{}
	p.addr = peertest.Script(t, "220 filter.test ESMTP\r\n", func(cmd string) string {
		p.mu.Lock()
		p.cmds = append(p.cmds, cmd)
		p.mu.Unlock()
		verb, _, _ := strings.Cut(strings.ToUpper(cmd), " ")
		switch verb {
		case "EHLO", "LHLO":
			var b strings.Builder
			b.WriteString("250-filter.test\r\n")
			for _, x := range ehloExtra {
				b.WriteString("250-" + x + "\r\n")
			}
			return b.String() + "250 8BITMIME\r\n"
		case "XFORWARD":
			return xfReply + "\r\n"
		case "DATA":
			return "354 go ahead\r\n"
		case ".":
			return "250 2.0.0 queued\r\n"
		case "QUIT":
			return "221 bye\r\n"
		}
		return "250 ok\r\n"
	})
	return p
}

// xforwards returns the XFORWARD commands received, in order.
func (p *xforwardPeer) xforwards() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, c := range p.cmds {
		if strings.HasPrefix(c, "XFORWARD") {
			out = append(out, c)
		}
	}
	return out
}

// TestXForward checks the XFORWARD commands against smtp_proto.c: sent
// only with smtp_send_xforward_command and an XFORWARD announcement, one
// command per attribute group, only announced attributes, values xtext-encoded without quoting "=", once per
// transaction (a reused connection too), and a refused XFORWARD does not
// stop the delivery. Unknown attributes are left out (golden lab
// xforward, relay/cleanup/testdata/lab).
func TestXForward(t *testing.T) {
	attrs := &XForward{Name: "client.example", Addr: "192.0.2.7", Port: "49152", Proto: "ESMTP",
		Helo: "helo+name=x y", Ident: "4XyZ", Source: "REMOTE"}
	all := "XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE"
	both := []string{
		"XFORWARD NAME=client.example ADDR=192.0.2.7 PORT=49152",
		"XFORWARD PROTO=ESMTP HELO=helo+2Bname=x+20y IDENT=4XyZ SOURCE=REMOTE",
	}
	for _, tc := range []struct {
		name    string
		send    bool
		ehlo    []string
		reply   string
		attrs   *XForward
		want    []string
		reused  bool
		nothing bool
	}{
		{name: "pipelining", send: true, ehlo: []string{"PIPELINING", all}, attrs: attrs, want: both},
		{name: "no pipelining", send: true, ehlo: []string{all}, attrs: attrs, want: both},
		{name: "reused connection", send: true, ehlo: []string{"PIPELINING", all}, attrs: attrs, want: append(slices.Clone(both), both...), reused: true},
		{name: "not configured", ehlo: []string{all}, attrs: attrs},
		{name: "not announced", send: true, ehlo: []string{"PIPELINING"}, attrs: attrs},
		{name: "no attributes", send: true, ehlo: []string{all}},
		{name: "name and address only", send: true, ehlo: []string{"XFORWARD NAME ADDR"}, attrs: attrs,
			want: []string{"XFORWARD NAME=client.example ADDR=192.0.2.7"}},
		{name: "helo only", send: true, ehlo: []string{"XFORWARD HELO"}, attrs: attrs,
			want: []string{"XFORWARD HELO=helo+2Bname=x+20y"}},
		{name: "unknown left out", send: true, ehlo: []string{all}, attrs: &XForward{Addr: "192.0.2.7", Proto: "SMTP"},
			want: []string{"XFORWARD ADDR=192.0.2.7", "XFORWARD PROTO=SMTP"}},
		{name: "nothing of a group", send: true, ehlo: []string{"XFORWARD NAME HELO"}, attrs: &XForward{Addr: "192.0.2.7", Helo: "h.example"},
			want: []string{"XFORWARD HELO=h.example"}},
		{name: "refused", send: true, ehlo: []string{"PIPELINING", all}, reply: "550 5.7.0 not authorized", attrs: attrs, want: both},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reply := tc.reply
			if reply == "" {
				reply = "250 2.0.0 Ok"
			}
			p := newXForwardPeer(t, tc.ehlo, reply)
			c := newClient(t, func(c *Config) { c.XForward = tc.send })
			tgt := Target{Host: "filter.test", Address: p.addr}
			n := 1
			if tc.reused {
				n = 2
			}
			for k := range n {
				m := msg("a@src.test", "Subject: x\r\n\r\nbody\r\n", "u@dst.test")
				m.XForward = tc.attrs
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				res, err := c.Deliver(ctx, tgt, m)
				cancel()
				if err != nil || res.Recipients[0].Status != Delivered {
					t.Fatalf("Deliver: %v %+v; peer got %q", err, res.Recipients, p.cmds)
				}
				if res.Reused != (k == 1) {
					t.Errorf("delivery %d: reused %v", k, res.Reused)
				}
			}
			c.Close()
			if got := p.xforwards(); !slices.Equal(got, tc.want) {
				t.Errorf("XFORWARD commands\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestXForwardQuote(t *testing.T) {
	for in, want := range map[string]string{
		"plain.example": "plain.example",
		"a+b=c d":       "a+2Bb=c+20d",
		"\xc3\xa9\x7f":  "+C3+A9+7F",
		"[UNAVAILABLE]": "[UNAVAILABLE]",
	} {
		if got := xforwardQuote(in); got != want {
			t.Errorf("xforwardQuote(%q) = %q, want %q", in, got, want)
		}
	}
	if got := xforwardQuote(strings.Repeat("+", 1000)); len(got) > 258 {
		t.Errorf("xforwardQuote: %d bytes, not capped", len(got))
	}
}
