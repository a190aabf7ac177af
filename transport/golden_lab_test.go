package transport

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mxrelay/mxrelay/internal/peertest"
	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/transport/client"
)

// labCase is a route configuration of the postfix-lab harness: the DNS
// zone, the next-hop sinks and the recipients, as given to Postfix 3.7.
type labCase struct {
	MainCF map[string]string `json:"main_cf"`
	DNS    map[string]struct {
		A    []string `json:"A"`
		AAAA []string `json:"AAAA"`
		MX   [][2]any `json:"MX"`
	} `json:"dns"`
	Sinks []struct {
		Addr     string `json:"addr"`
		Port     int    `json:"port"`
		EHLOName string `json:"ehlo_name"`
	} `json:"sinks"`
	Cases []struct {
		ID   string   `json:"id"`
		Rcpt []string `json:"rcpt"`
	} `json:"cases"`
}

// labAnswer is Postfix's final outcome for one recipient.
type labAnswer struct{ status, dsn, sink, reason string }

// labAnswers reads the harness's TSV of Postfix's outcomes, by recipient.
func labAnswers(t *testing.T, path string) map[string]labAnswer {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]labAnswer{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "#") {
			continue
		}
		// case rcpt inject_code status dsn sinks relay reason
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 8 {
			t.Fatalf("%s: bad line %q", path, sc.Text())
		}
		out[f[1]] = labAnswer{status: f[3], dsn: f[4], sink: f[5], reason: f[7]}
	}
	return out
}

// zone writes the case's DNS as a zone file for dnstest.
func (c *labCase) zone() string {
	var b strings.Builder
	b.WriteString("$ORIGIN test.\n$TTL 300\ntest. IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60\n")
	b.WriteString("mx2.oracle.test. IN A 127.0.0.1\n") // the lab's host: always there
	for name, rrs := range c.DNS {
		for _, a := range rrs.A {
			fmt.Fprintf(&b, "%s. IN A %s\n", name, a)
		}
		for _, a := range rrs.AAAA {
			fmt.Fprintf(&b, "%s. IN AAAA %s\n", name, a)
		}
		for _, mx := range rrs.MX {
			fmt.Fprintf(&b, "%s. IN MX %v %s.\n", name, mx[0], mx[1])
		}
	}
	return b.String()
}

// TestPostfixLabRoutes replays route cases recorded from Postfix 3.7 in
// the postfix-lab harness (testdata/postfix-lab: the case file and
// Postfix's outcomes) against the Router and Agent, with the same DNS and
// the same next hops, and requires the same status, DSN code, sink and
// reason. The harness's Postfix has myhostname mx2.oracle.test, address
// 127.0.0.1 and inet_protocols = ipv4.
func TestPostfixLabRoutes(t *testing.T) {
	files, _ := filepath.Glob("testdata/postfix-lab/*.json")
	if len(files) == 0 {
		t.Fatal("no postfix-lab cases")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			var lc labCase
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &lc); err != nil {
				t.Fatal(err)
			}
			want := labAnswers(t, strings.TrimSuffix(file, ".json")+".tsv")
			_, res := newDNSServerZone(t, lc.zone())
			w := &world{}
			for _, s := range lc.Sinks {
				w.route(fmt.Sprintf("%s:%d", s.Addr, s.Port), labSink(t, s.EHLOName))
			}
			ctx := context.Background()
			relayDomains, _, err := lookup.ParseList(ctx, lc.MainCF["relay_domains"], lookup.ListOptions{ParentStyle: true})
			if err != nil {
				t.Fatal(err)
			}
			rc := RouterConfig{Domains: &lookup.Domains{RelayDomains: relayDomains}, MyHostname: "mx2.oracle.test"}
			if spec := lc.MainCF["transport_maps"]; spec != "" {
				tb, err := lookup.Open(ctx, spec, nil)
				if err != nil {
					t.Fatal(err)
				}
				rc.TransportMaps = []lookup.Table{tb}
			}
			router, err := NewRouter(rc)
			if err != nil {
				t.Fatal(err)
			}
			agent, err := NewAgent(AgentConfig{
				Sender: newSender(t, w, func(c *client.Config) { c.Hostname = "mx2.oracle.test" }),
				Addresses: AddressConfig{Resolver: res, Network: "ip4", Shuffle: noShuffle,
					MyAddresses: []netip.Addr{netip.MustParseAddr("127.0.0.1")}},
			})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, c := range lc.Cases {
				for _, rcpt := range c.Rcpt {
					pf, ok := want[rcpt]
					if !ok {
						t.Fatalf("%s: no Postfix answer for %s", c.ID, rcpt)
					}
					route, err := router.Route(ctx, rcpt)
					if err != nil {
						t.Fatalf("%s: route: %v", c.ID, err)
					}
					d := agent.Deliver(ctx, route, message(rcpt))
					got := d.Recipients[0]
					status := map[client.Status]string{client.Delivered: "sent", client.Deferred: "deferred", client.Failed: "bounced"}[got.Status]
					sink := "-"
					if got.Status == client.Delivered {
						sink = got.Addr
					}
					reason := got.Text()
					if got.Status == client.Delivered {
						reason = pf.reason // the sinks' own reply text differs
					}
					if status != pf.status || got.Enhanced() != pf.dsn || sink != pf.sink || reason != pf.reason {
						t.Errorf("%s (%s): got %s %s sink %s %q; Postfix %s %s sink %s %q",
							c.ID, rcpt, status, got.Enhanced(), sink, reason, pf.status, pf.dsn, pf.sink, pf.reason)
					}
					n++
				}
			}
			if n == 0 {
				t.Fatal("no recipients compared")
			}
		})
	}
}

// labSink is a next hop that names itself ehloName in its banner and EHLO
// reply, as the harness's sinks do, and accepts everything.
func labSink(t *testing.T, ehloName string) string {
	return peertest.Script(t, "220 "+ehloName+" ESMTP oracle-sink\r\n", func(cmd string) string {
		verb, _, _ := strings.Cut(strings.ToUpper(cmd), " ")
		switch {
		case verb == "EHLO":
			return "250-" + ehloName + "\r\n250 PIPELINING\r\n"
		case slices.Contains([]string{"MAIL", "RCPT", "RSET", "HELO"}, verb):
			return "250 2.0.0 Ok\r\n"
		case verb == "DATA":
			return "354 go ahead\r\n"
		case verb == ".":
			return "250 2.0.0 Ok: queued by oracle-sink\r\n"
		}
		return ""
	})
}
