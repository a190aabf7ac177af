package transport

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/internal/peertest"
	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/transport/client"
)

// BenchmarkRoute measures one routing decision: class, transport_maps
// search in transport_maps key order over a 1000-entry table, relayhost.
func BenchmarkRoute(b *testing.B) {
	entries := map[string]string{"*": "smtp:[fallback.test]"}
	for i := range 1000 {
		entries[fmt.Sprintf("d%d.test", i)] = fmt.Sprintf("relay:[mx%d.test]:2525", i)
	}
	rt, err := NewRouter(RouterConfig{
		Domains: ClassifierFunc(func(_ context.Context, d string) (lookup.Class, error) {
			if strings.HasPrefix(d, "d") {
				return lookup.ClassRelay, nil
			}
			return lookup.ClassDefault, nil
		}),
		TransportMaps: []lookup.Table{lookup.NewMap(entries)},
		Keys:          lookup.KeyOptions{Delimiters: "+"},
		Relayhost:     "[smarthost.test]",
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, rcpt := range []string{"user+ext@d500.test", "user@sub.other.test"} {
		b.Run(rcpt, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := rt.Route(ctx, rcpt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkResolve measures AddressConfig.Resolve (MX lookup, addresses,
// sorting, self check) for a domain with two MX hosts, with the
// DNS cache warm (no query leaves the process) and without a cache (three
// loopback queries per resolution).
func BenchmarkResolve(b *testing.B) {
	srv, _ := newDNSServer(b)
	for _, cache := range []bool{true, false} {
		b.Run(fmt.Sprintf("cache=%v", cache), func(b *testing.B) {
			r, err := NewDNS(DNSConfig{Servers: []string{srv.Addr()}, Timeout: time.Second, Cache: cache})
			if err != nil {
				b.Fatal(err)
			}
			c := &AddressConfig{Resolver: r, MyAddresses: us}
			hop := Hop{Host: "backup.test"}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				a, err := c.Resolve(ctx, hop, false)
				if err != nil || len(a.Dests) != 1 {
					b.Fatal(a, err)
				}
			}
		})
	}
}

// BenchmarkAgentDeliver measures a whole delivery of a 4 KiB message to a
// route: MX resolution from a warm cache, then a session on a reused
// pipelined connection to a loopback sink.
func BenchmarkAgentDeliver(b *testing.B) {
	srv, _ := newDNSServerZone(b, deliverZone)
	r, err := NewDNS(DNSConfig{Servers: []string{srv.Addr()}, Cache: true})
	if err != nil {
		b.Fatal(err)
	}
	addr, _ := peertest.Sink(b)
	w := &world{}
	w.route("127.0.20.1:25", addr)
	a, err := NewAgent(AgentConfig{Sender: newSender(b, w, nil), Addresses: AddressConfig{Resolver: r}})
	if err != nil {
		b.Fatal(err)
	}
	body := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n"), 64)
	m := &client.Message{From: "a@src.test", Recipients: []client.Recipient{{Address: "u@three.test"}, {Address: "v@three.test"}},
		Body: bytes.NewReader(body), Size: int64(len(body))}
	route := smtpRoute("three.test")
	ctx := context.Background()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		d := a.Deliver(ctx, route, m)
		if d.Recipients[1].Status != client.Delivered {
			b.Fatal(d.Recipients[1].Text())
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
