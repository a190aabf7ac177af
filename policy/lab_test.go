package policy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay"
	"github.com/mxrelay/mxrelay/relay/maincf"
	"github.com/mxrelay/mxrelay/transport/dnstest"
)

// labConfig is one case file of testdata/lab/rcpt, in the format of
// ../shared/tools/postfix-lab (its README): a main.cf, maps, a DNS zone
// and SMTP sessions. testdata/lab/want holds what Postfix 3.7.11 answered
// (lab.py run), with its DNS server serving the same zone.
type labConfig struct {
	MainCF   map[string]string `json:"main_cf"`
	Maps     map[string]string `json:"maps"`
	DNS      map[string]labRR  `json:"dns"`
	Defaults struct {
		Client, Mail, Ehlo string
	} `json:"defaults"`
	Cases []struct {
		ID     string `json:"id"`
		Client string `json:"client"`
		Ehlo   string `json:"ehlo"`
	} `json:"cases"`
}

type labRR struct {
	A, AAAA, TXT, PTR, NS []string
	MX                    [][2]any
	CNAME                 string
	Rcode                 string `json:"rcode"`
}

type labWant struct {
	Cases []struct {
		ID     string `json:"id"`
		Client string `json:"client"`
		// Greeting is what the server said at connect; a refusal
		// ("421 4.7.0 ... too many connections") ends the case there.
		Greeting struct {
			Code int    `json:"code"`
			Text string `json:"text"`
		} `json:"greeting"`
		Steps []struct {
			Cmd  string `json:"cmd"`
			Code int    `json:"code"`
			Enh  string `json:"enh"`
			Text string `json:"text"`
		} `json:"steps"`
	} `json:"cases"`
}

// labBase is the lab's identity parameters (postfix-lab lib/pfx.py
// IDENTITY_PARAMS), under which every case was recorded.
var labBase = map[string]string{
	"compatibility_level": "3.6",
	"myhostname":          "mx2.oracle.test",
	"mydomain":            "oracle.test",
	"myorigin":            "$myhostname",
	"mydestination":       "",
	"inet_interfaces":     "127.0.0.1",
	"inet_protocols":      "ipv4",
	"mynetworks":          "127.0.0.1/32",
	"alias_maps":          "",
}

// labDeliberate lists the replies mxrelay gives on purpose where Postfix
// gives another, by "config/case/step", with the reason in doc.go.
var labDeliberate = map[string]string{}

// TestLab replays the sessions of testdata/lab through a relay loaded
// from the same main.cf, with an in-process DNS server serving the same
// zone, and requires Postfix's replies: code, enhanced status code and
// text, for every MAIL and RCPT.
func TestLab(t *testing.T) {
	files, err := filepath.Glob("testdata/lab/rcpt/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no lab cases: %v", err)
	}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		t.Run(name, func(t *testing.T) {
			var cfg labConfig
			var want labWant
			readJSON(t, path, &cfg)
			readJSON(t, filepath.Join("testdata/lab/want", name+".json"), &want)
			addr := serveLab(t, &cfg)
			for i, c := range cfg.Cases {
				w := want.Cases[i]
				if w.ID != c.ID {
					t.Fatalf("case %d is %s in the case file and %s in want: record again", i, c.ID, w.ID)
				}
				client := w.Client
				ehlo := c.Ehlo
				if ehlo == "" {
					ehlo = cfg.Defaults.Ehlo
				}
				if ehlo == "" {
					ehlo = "probe.client.test"
				}
				t.Run(c.ID, func(t *testing.T) {
					if g := w.Greeting; g.Code != 0 && g.Code != 220 {
						// The lab records a refused greeting's text
						// without its enhanced status code.
						code, _, text := dialRefused(t, addr, client)
						if code != g.Code || text != g.Text {
							t.Errorf("greeting\n got     %d %s\n Postfix %d %s", code, text, g.Code, g.Text)
						}
						return
					}
					conn := dialLab(t, addr, client, ehlo)
					defer conn.Close()
					for j, st := range w.Steps {
						code, enh, text := conn.command(t, st.Cmd)
						got := fmt.Sprintf("%d %s %s", code, enh, text)
						exp := fmt.Sprintf("%d %s %s", st.Code, st.Enh, st.Text)
						if d, ok := labDeliberate[name+"/"+c.ID+"/"+strconv.Itoa(j)]; ok {
							exp = d
						}
						if got != exp {
							t.Errorf("%s\n got     %s\n Postfix %s", st.Cmd, got, exp)
						}
					}
				})
			}
		})
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// serveLab loads a relay from the case's main.cf and serves it on
// 127.0.0.1, with DNS from an in-process server.
func serveLab(t *testing.T, cfg *labConfig) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range cfg.Maps {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	params := map[string]string{}
	for k, v := range labBase {
		params[k] = v
	}
	for k, v := range cfg.MainCF {
		params[k] = strings.ReplaceAll(v, "{confdir}", dir)
	}
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	var text strings.Builder
	for _, k := range names {
		fmt.Fprintf(&text, "%s = %s\n", k, params[k])
	}
	cf, err := maincf.Parse(strings.NewReader(text.String()), "main.cf")
	if err != nil {
		t.Fatal(err)
	}
	d := labDNS(t, cfg.DNS)
	ld, err := relay.Load(context.Background(), cf, relay.LoadOptions{
		Queue:          queue.NewMemory(),
		DNS:            []string{d.Addr()},
		InterfaceAddrs: func() ([]netip.Prefix, error) { return []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ld.Close() })
	srv, err := relay.NewServer(ld.Server)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(context.Background(), l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return l.Addr().String()
}

// labDNS serves a lab zone: unknown names are NXDOMAIN, a known name
// without the type asked is NODATA, "rcode" forces a reply code.
func labDNS(t *testing.T, zone map[string]labRR) *dnstest.Server {
	t.Helper()
	d, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	var rrs []string
	add := func(name, typ, data string) { rrs = append(rrs, dns.Fqdn(name)+" 60 IN "+typ+" "+data) }
	add("mx2.oracle.test", "A", "127.0.0.1")
	for name, r := range zone {
		for _, a := range r.A {
			add(name, "A", a)
		}
		for _, a := range r.AAAA {
			add(name, "AAAA", a)
		}
		for _, s := range r.TXT {
			add(name, "TXT", strconv.Quote(s))
		}
		for _, s := range r.PTR {
			add(name, "PTR", dns.Fqdn(s))
		}
		for _, s := range r.NS {
			add(name, "NS", dns.Fqdn(s))
		}
		for _, mx := range r.MX {
			add(name, "MX", fmt.Sprintf("%v %s", mx[0], dns.Fqdn(mx[1].(string))))
		}
		if r.CNAME != "" {
			add(name, "CNAME", dns.Fqdn(r.CNAME))
		}
		switch r.Rcode {
		case "":
		case "SERVFAIL":
			d.SetFault(name, dnstest.AnyType, dnstest.ServFail)
		case "REFUSED":
			d.SetFault(name, dnstest.AnyType, dnstest.Refused)
		default:
			t.Fatalf("rcode %s is not supported here", r.Rcode)
		}
		if len(r.A)+len(r.AAAA)+len(r.TXT)+len(r.PTR)+len(r.NS)+len(r.MX) == 0 && r.CNAME == "" && r.Rcode == "" {
			t.Fatalf("%s: no records", name)
		}
	}
	if err := d.Add(rrs...); err != nil {
		t.Fatal(err)
	}
	return d
}

type labConn struct {
	net.Conn
	r *bufio.Reader
}

// dialLab connects from the client address, reads the greeting and says
// EHLO.
func dialLab(t *testing.T, addr, client, ehlo string) *labConn {
	t.Helper()
	dialer := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(client)}}
	c, err := dialer.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(60 * time.Second))
	lc := &labConn{Conn: c, r: bufio.NewReader(c)}
	if code, _, text := lc.reply(t); code != 220 {
		t.Fatalf("greeting %d %s", code, text)
	}
	if code, _, text := lc.command(t, "EHLO "+ehlo); code != 250 {
		t.Fatalf("EHLO: %d %s", code, text)
	}
	return lc
}

// dialRefused connects from the client address and reads the greeting,
// which the case expects to be a refusal.
func dialRefused(t *testing.T, addr, client string) (int, string, string) {
	t.Helper()
	dialer := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(client)}}
	c, err := dialer.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	lc := &labConn{Conn: c, r: bufio.NewReader(c)}
	return lc.reply(t)
}

func (c *labConn) command(t *testing.T, cmd string) (int, string, string) {
	t.Helper()
	if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
		t.Fatal(err)
	}
	return c.reply(t)
}

// reply reads one reply; a multi-line reply's text is its lines joined
// with a blank, as the lab records it. The enhanced code is split off
// when the text starts with one.
func (c *labConn) reply(t *testing.T) (int, string, string) {
	t.Helper()
	var texts []string
	code := 0
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading reply: %v", err)
		}
		l = strings.TrimRight(l, "\r\n")
		if len(l) < 3 {
			t.Fatalf("bad reply line %q", l)
		}
		code, _ = strconv.Atoi(l[:3])
		texts = append(texts, strings.TrimPrefix(l[3:], l[3:min(4, len(l))]))
		if len(l) == 3 || l[3] == ' ' {
			break
		}
	}
	text := strings.Join(texts, "\n")
	enh := ""
	if f := strings.SplitN(text, " ", 2); len(f) > 0 && strings.Count(f[0], ".") == 2 && f[0][0] >= '2' && f[0][0] <= '5' {
		enh = f[0]
		text = ""
		if len(f) == 2 {
			text = f[1]
		}
	}
	return code, enh, text
}
