package relay

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxrelay/mxrelay/internal/peertest"
	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/maincf"
	"github.com/mxrelay/mxrelay/transport/dnstest"
)

// labRoute is a route configuration of the postfix-lab harness with
// Postfix 3.7.11's answers (lab.py run's output): main.cf, next-hop
// sinks, and per case the replies to the injected commands.
type labRoute struct {
	MainCF map[string]string `json:"main_cf"`
	Sinks  []struct {
		Addr        string            `json:"addr"`
		Port        int               `json:"port"`
		EHLOName    string            `json:"ehlo_name"`
		RcptReply   string            `json:"rcpt_reply"`
		RcptReplies map[string]string `json:"rcpt_replies"`
		DataReply   string            `json:"data_reply"`
	} `json:"sinks"`
	Cases []struct {
		ID     string    `json:"id"`
		Inject []labStep `json:"inject"`
	} `json:"cases"`
}

// labStep is one command the lab's injector sent and Postfix's reply.
type labStep struct {
	Cmd  string `json:"cmd"`
	Code int    `json:"code"`
	Enh  string `json:"enh"`
	Text string `json:"text"`
}

// labConfig writes a lab configuration's maps into a new directory and
// returns its main.cf: labBase and main_cf, "{confdir}" being that
// directory.
func labConfig(t *testing.T, mainCF, maps map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range maps {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	text := labBase
	for k, v := range mainCF {
		text += k + " = " + strings.ReplaceAll(v, "{confdir}", dir) + "\n"
	}
	return text
}

// labZone is a lab configuration's DNS zone.
type labZone map[string]struct {
	A     []string `json:"A"`
	PTR   []string `json:"PTR"`
	Rcode string   `json:"rcode"`
}

// startLabDNS serves z: its A and PTR records, SERVFAIL for the PTR
// queries of names whose rcode says so.
func startLabDNS(t *testing.T, z labZone) *dnstest.Server {
	t.Helper()
	d, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	for name, rr := range z {
		for _, v := range rr.A {
			d.Add(fmt.Sprintf("%s. 300 IN A %s", name, v))
		}
		for _, v := range rr.PTR {
			d.Add(fmt.Sprintf("%s. 300 IN PTR %s.", name, v))
		}
		if rr.Rcode == "SERVFAIL" {
			d.SetFault(name, dns.TypePTR, dnstest.ServFail)
		}
	}
	return d
}

// labBase is the part of the harness's main.cf that identifies the host.
const labBase = `compatibility_level = 3.6
myhostname = mx2.oracle.test
mydomain = oracle.test
myorigin = $myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.1/32
alias_maps =
smtpd_banner = $myhostname ESMTP oracle
`

// labSinks serves the case's sinks (the primary MXs) as scripted peers
// and returns a dialer that reaches them, refusing every other address,
// and the RCPT commands each saw.
func labSinks(t *testing.T, lr *labRoute) (dialerFunc, func(addr string) int) {
	var mu sync.Mutex
	rcpts := map[string]int{}
	to := map[string]string{}
	for _, s := range lr.Sinks {
		replies := s.RcptReplies
		to[fmt.Sprintf("%s:%d", s.Addr, s.Port)] = peertest.Script(t, "220 "+s.EHLOName+" ESMTP oracle-sink\r\n", func(cmd string) string {
			verb, arg, _ := strings.Cut(cmd, " ")
			switch strings.ToUpper(verb) {
			case "EHLO":
				return "250-" + s.EHLOName + "\r\n250 PIPELINING\r\n"
			case "MAIL", "RSET", "HELO":
				return "250 2.0.0 Ok\r\n"
			case "RCPT":
				addr := strings.ToLower(strings.Trim(strings.TrimPrefix(strings.ToUpper(arg), "TO:"), "<>"))
				if i := strings.Index(arg, "<"); i >= 0 {
					addr = strings.ToLower(strings.SplitN(arg[i+1:], ">", 2)[0])
				}
				mu.Lock()
				rcpts[addr]++
				mu.Unlock()
				if r, ok := replies[addr]; ok {
					return r + "\r\n"
				}
				return "250 2.1.5 Ok\r\n"
			case "DATA":
				return "354 go ahead\r\n"
			case ".":
				return "250 2.0.0 Ok: queued by oracle-sink\r\n"
			}
			return ""
		})
	}
	dial := dialerFunc(func(ctx context.Context, network, addr string) (net.Conn, error) {
		return dialMapped(ctx, network, addr, to)
	})
	return dial, func(addr string) int {
		mu.Lock()
		defer mu.Unlock()
		return rcpts[addr]
	}
}

var injectRE = regexp.MustCompile(`^(MAIL FROM|RCPT TO):<([^>]*)>`)

// TestVerifyLab replays address verification cases recorded from
// Postfix 3.7.11 (testdata/lab/verify): reject_unverified_recipient and
// reject_unverified_sender with the default codes and with 550, against
// a primary that accepts, refuses (550), defers (450) or is down. Each
// reply must be Postfix's, code, enhanced code and text, and an address
// is probed once: the second session is answered from the cache.
func TestVerifyLab(t *testing.T) {
	files, _ := filepath.Glob("testdata/lab/verify/*.json")
	if len(files) < 4 {
		t.Fatalf("lab cases missing: %v", files)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			var lr labRoute
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &lr); err != nil {
				t.Fatal(err)
			}
			text := labBase
			for k, v := range lr.MainCF {
				text += k + " = " + v + "\n"
			}
			cf, err := maincf.Parse(strings.NewReader(text), "main.cf")
			if err != nil {
				t.Fatal(err)
			}
			dial, probes := labSinks(t, &lr)
			d, err := dnstest.Start()
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			ld, err := Load(context.Background(), cf, LoadOptions{Queue: queue.NewMemory(), DNS: []string{d.Addr()}, Dialer: dial,
				InterfaceAddrs: func() ([]netip.Prefix, error) { return []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}, nil }})
			if err != nil {
				t.Fatal(err)
			}
			defer ld.Close()
			_, addr := serve(t, ld.Server)
			for _, c := range lr.Cases {
				conn := labDial(t, addr)
				for _, step := range c.Inject {
					if step.Cmd == "DATA" {
						break
					}
					code, enh, got := conn.cmd(t, step.Cmd)
					if code != step.Code || enh != step.Enh || got != step.Text {
						t.Errorf("%s: %s:\n got  %d %s %s\n want %d %s %s", c.ID, step.Cmd, code, enh, got, step.Code, step.Enh, step.Text)
					}
				}
				conn.cmd(t, "QUIT")
			}
			for _, c := range lr.Cases {
				for _, step := range c.Inject {
					if m := injectRE.FindStringSubmatch(step.Cmd); m != nil && m[2] != "" && !strings.HasPrefix(m[2], "sender@") {
						if n := probes(strings.ToLower(m[2])); n > 1 && !strings.HasPrefix(c.ID, "sender_known") {
							t.Errorf("%s: %s probed %d times: the cache was not used", c.ID, m[2], n)
						}
					}
				}
			}
		})
	}
}

// labConn is an SMTP session from 127.0.0.2, a client outside the lab's
// mynetworks.
type labConn struct {
	c  net.Conn
	br *bufio.Reader
}

func labDial(t *testing.T, addr string) *labConn {
	t.Helper()
	return labDialFrom(t, addr, "127.0.0.2")
}

// labDialFrom is labDial from the source address from (the lab injects
// route cases from 127.0.0.1, inside mynetworks).
func labDialFrom(t *testing.T, addr, from string) *labConn {
	t.Helper()
	return labDialFromHello(t, addr, from, "EHLO client.example")
}

func (c *labConn) cmd(t *testing.T, line string) (int, string, string) {
	t.Helper()
	fmt.Fprintf(c.c, "%s\r\n", line)
	return c.reply(t)
}

// reply reads a reply: its code, enhanced code and the text of its last
// line (the lab records single-line replies).
func (c *labConn) reply(t *testing.T) (int, string, string) {
	t.Helper()
	c.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		line, err := c.br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading a reply: %v", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) >= 4 && line[3] == '-' {
			continue
		}
		var code int
		fmt.Sscanf(line, "%d", &code)
		rest := strings.TrimSpace(line[min(len(line), 3):])
		enh, text, _ := strings.Cut(rest, " ")
		if !strings.Contains(enh, ".") {
			return code, "", rest
		}
		return code, enh, text
	}
}

// dialMapped dials to[addr], refusing an address not in to as a host
// without a listener does.
func dialMapped(ctx context.Context, network, addr string, to map[string]string) (net.Conn, error) {
	target, ok := to[addr]
	if !ok {
		return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
	}
	var d net.Dialer
	return d.DialContext(ctx, network, target)
}
