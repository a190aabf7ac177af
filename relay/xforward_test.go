package relay

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/internal/peertest"
)

// xfPeer is a loopback SMTP next hop that announces XFORWARD with attrs
// (none when empty) and records each transaction's recipients and
// XFORWARD commands.
type xfPeer struct {
	addr string
	mu   sync.Mutex
	tx   xfTxn // the transaction in progress
	got  []xfTxn
	ch   chan struct{}
}

type xfTxn struct {
	rcpt     []string
	xforward []string
}

func startXFPeer(t *testing.T, attrs string) *xfPeer {
	t.Helper()
	p := &xfPeer{ch: make(chan struct{}, 100)}
	p.addr = peertest.Script(t, "220 sink.test ESMTP\r\n", func(cmd string) string {
		p.mu.Lock()
		defer p.mu.Unlock()
		verb, arg, _ := strings.Cut(cmd, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			if attrs != "" {
				return "250-sink.test\r\n250-XFORWARD " + attrs + "\r\n250 PIPELINING\r\n"
			}
			return "250-sink.test\r\n250 PIPELINING\r\n"
		case "XFORWARD":
			p.tx.xforward = append(p.tx.xforward, cmd)
		case "RCPT":
			_, addr, _ := strings.Cut(arg, ":")
			p.tx.rcpt = append(p.tx.rcpt, strings.Trim(addr, "<>"))
			return "250 2.1.5 Ok\r\n"
		case "DATA":
			return "354 go ahead\r\n"
		case ".":
			p.got, p.tx = append(p.got, p.tx), xfTxn{}
			p.ch <- struct{}{}
			return "250 2.0.0 Ok: queued\r\n"
		case "RSET":
			p.tx = xfTxn{}
		case "QUIT":
			return "221 2.0.0 Bye\r\n"
		}
		return "250 2.0.0 Ok\r\n"
	})
	return p
}

func (p *xfPeer) wait(t *testing.T, n int) []xfTxn {
	t.Helper()
	for {
		p.mu.Lock()
		got := slices.Clone(p.got)
		p.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-p.ch:
		case <-time.After(20 * time.Second):
			t.Fatalf("%d deliveries, want %d", len(got), n)
		}
	}
}

// xforwardLab is a route configuration of relay/testdata/lab-xforward and
// what Postfix 3.7 did with it.
type xforwardLab struct {
	MainCF map[string]string `json:"main_cf"`
	Maps   map[string]string `json:"maps"`
	DNS    labZone           `json:"dns"`
	Sinks  []struct {
		Addr     string `json:"addr"`
		Port     int    `json:"port"`
		XForward string `json:"xforward"`
	} `json:"sinks"`
	Cases []struct {
		ID         string   `json:"id"`
		Rcpt       []string `json:"rcpt"`
		Mail       string   `json:"mail"`
		Client     string   `json:"client"`
		Hello      string   `json:"hello"`
		Message    string   `json:"message"`
		QueueID    string   `json:"queue_id"`
		Deliveries []struct {
			Sink     string   `json:"sink"`
			Rcpt     []string `json:"rcpt"`
			XForward []string `json:"xforward"`
		} `json:"deliveries"`
	} `json:"cases"`
}

var (
	xfIdent = regexp.MustCompile(` IDENT=[0-9A-Za-z]+`)
	xfPort  = regexp.MustCompile(` PORT=[0-9]+`)
)

// TestXForwardLab replays golden lab xforward (Postfix 3.7.11,
// smtp_send_xforward_command = yes): the XFORWARD commands each next hop
// receives, with the attributes it announced and the client's: a
// verified name, none for a name that does not verify or whose lookup
// failed, the protocol of HELO or EHLO, the HELO name xtext-encoded,
// the queue ID as IDENT, SOURCE=REMOTE; none to a next hop that does not
// announce XFORWARD. The client port and queue ID differ from run to run
// and are checked apart.
func TestXForwardLab(t *testing.T) {
	var route, golden xforwardLab
	for file, dst := range map[string]*xforwardLab{"route": &route, "golden": &golden} {
		b, err := os.ReadFile(filepath.Join("testdata/lab-xforward", file, "xforward.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	d := startLabDNS(t, route.DNS)
	peers := map[string]*xfPeer{}
	for _, s := range route.Sinks {
		peers[fmt.Sprintf("%s:%d", s.Addr, s.Port)] = startXFPeer(t, s.XForward)
	}
	dialer := dialerFunc(func(ctx context.Context, network, address string) (net.Conn, error) {
		p := peers[address]
		if p == nil {
			return nil, fmt.Errorf("no lab sink at %s", address)
		}
		var nd net.Dialer
		return nd.DialContext(ctx, network, p.addr)
	})
	text := labConfig(t, route.MainCF, route.Maps)
	_, addr := loadAndServe(t, text, LoadOptions{DNS: []string{d.Addr()}, Dialer: dialer})

	want := map[string]int{} // deliveries per sink so far
	for i, c := range route.Cases {
		g := golden.Cases[i]
		if g.ID != c.ID {
			t.Fatalf("golden case %d is %s, route case %s", i, g.ID, c.ID)
		}
		conn := labDialFromHello(t, addr, c.Client, c.Hello)
		localPort := conn.c.LocalAddr().(*net.TCPAddr).Port
		conn.cmd(t, "MAIL FROM:"+c.Mail)
		for _, r := range c.Rcpt {
			if code, _, text := conn.cmd(t, "RCPT TO:<"+r+">"); code != 250 {
				t.Fatalf("%s: RCPT %s: %d %s", c.ID, r, code, text)
			}
		}
		conn.cmd(t, "DATA")
		msg := strings.ReplaceAll(strings.ReplaceAll(c.Message, "{case}", c.ID), "{rcpts}", strings.Join(c.Rcpt, ", "))
		_, _, text := conn.cmd(t, strings.ReplaceAll(dotStuff(msg), "\n", "\r\n")+".")
		_, id, _ := strings.Cut(text, "queued as ")
		conn.cmd(t, "QUIT")
		for _, gd := range g.Deliveries {
			want[gd.Sink]++
			got := peers[gd.Sink].wait(t, want[gd.Sink])[want[gd.Sink]-1]
			if !slices.Equal(got.rcpt, gd.Rcpt) {
				t.Errorf("%s: sink %s got recipients %q, Postfix's %q", c.ID, gd.Sink, got.rcpt, gd.Rcpt)
			}
			norm := func(lines []string, ident string, port int) []string {
				var out []string
				for _, l := range lines {
					if m := xfIdent.FindString(l); m != "" && m != " IDENT="+ident {
						t.Errorf("%s: %q: IDENT is not the queue ID %s", c.ID, l, ident)
					}
					if m := xfPort.FindString(l); m != "" && m != fmt.Sprintf(" PORT=%d", port) {
						t.Errorf("%s: %q: PORT is not the client's port %d", c.ID, l, port)
					}
					out = append(out, xfPort.ReplaceAllString(xfIdent.ReplaceAllString(l, " IDENT=*"), " PORT=*"))
				}
				return out
			}
			gotX := norm(got.xforward, id, localPort)
			var goldenPort int
			if m := xfPort.FindString(strings.Join(gd.XForward, " ")); m != "" {
				fmt.Sscanf(m, " PORT=%d", &goldenPort)
			}
			wantX := norm(gd.XForward, g.QueueID, goldenPort)
			if !slices.Equal(gotX, wantX) {
				t.Errorf("%s: sink %s got XFORWARD\n %q\nPostfix sent\n %q", c.ID, gd.Sink, gotX, wantX)
			}
		}
	}
}

// labDialFromHello connects from the address from and greets with hello
// ("EHLO inject.oracle.test" when empty), as the lab's injector does.
func labDialFromHello(t *testing.T, addr, from, hello string) *labConn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	lc := &labConn{c: c, br: bufio.NewReader(c)}
	lc.reply(t)
	if hello == "" {
		hello = "EHLO inject.oracle.test"
	}
	lc.cmd(t, hello)
	return lc
}

func dotStuff(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") {
			lines[i] = "." + l
		}
	}
	return strings.Join(lines, "\n")
}
