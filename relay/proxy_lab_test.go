package relay

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/relay/smtpdproxy"
)

// TestProxyLab replays Postfix's sessions of the goldens of
// relay/smtpdproxy/testdata/lab/golden (route cases of
// relay/smtpdproxy/testdata/lab/route with smtpd_proxy_filter set to a
// lab sink, recorded with POSTFIX_LAB_CASES=relay/smtpdproxy/testdata/lab
// lab.py run, or sh relay/smtpdproxy/testdata/lab/run.sh, which also
// compares mxrelayd in the lab) against the relay with a
// scripted filter that answers as the lab's sink did: every reply
// (code, enhanced code, text) is Postfix's, the filter's refusals of
// RCPT and of the message, and a filter that is down.
func TestProxyLab(t *testing.T) {
	files, err := filepath.Glob("smtpdproxy/testdata/lab/golden/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no goldens: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".json"), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var g labRoute
			if err := json.Unmarshal(src, &g); err != nil {
				t.Fatal(err)
			}
			service := g.MainCF["smtpd_proxy_filter"]
			var addr string
			if len(g.Sinks) == 0 {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				addr = ln.Addr().String()
				ln.Close()
			} else {
				s := g.Sinks[0]
				script := map[string]string{"CONNECT": "220 filter.test ESMTP oracle-sink", "EHLO": "250-filter.test\n250-PIPELINING\n250 8BITMIME",
					".": "250 2.0.0 Ok: queued by oracle-sink " + net.JoinHostPort(s.Addr, "10024")}
				if s.RcptReply != "" {
					script["RCPT"] = s.RcptReply
				}
				for a, r := range s.RcptReplies {
					script["RCPT TO:<"+a+">"] = r
				}
				if s.DataReply != "" {
					script["."] = s.DataReply
				}
				addr = startProxy(t, script).addr()
			}
			// The same form as Postfix's (inet:, [host]).
			host, port, _ := net.SplitHostPort(addr)
			service = strings.Replace(strings.Replace(service, "127.0.0.9", host, 1), "10024", port, 1)
			service = strings.Replace(service, "10099", port, 1)
			// The lab's mynetworks: the injecting client may relay.
			w := newWorld(t, worldOpts{noRun: true, pol: func(c *policy.Config) { c.MyNetworks = "127.0.0.1/32" }, cfg: func(c *Config) {
				c.ProxyFilter = &smtpdproxy.Config{Service: service, Timeout: 5 * time.Second, EHLO: "mx2.example.test",
					SpeedAdjust: g.MainCF["smtpd_proxy_options"] == "speed_adjust"}
			}})
			for _, c := range g.Cases {
				rs := w.raw()
				rs.cmd("EHLO inject.oracle.test")
				for _, st := range c.Inject {
					code, msg := rs.cmd(st.Cmd)
					if st.Cmd == "DATA" && code == 354 {
						code, msg = rs.cmd("Subject: oracle " + c.ID + "\r\n\r\nrouting probe\r\n.")
					}
					want := st.Enh + " " + st.Text
					if code != st.Code || msg != want {
						t.Errorf("%s: %s: %d %s, Postfix %d %s", c.ID, st.Cmd, code, msg, st.Code, want)
					}
				}
				rs.cmd("QUIT")
			}
		})
	}
}
