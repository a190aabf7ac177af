package transport_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"strings"

	"github.com/emersion/go-smtp"
	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/transport"
	"github.com/mxrelay/mxrelay/transport/client"
	"github.com/mxrelay/mxrelay/transport/dnstest"
)

// Routing recipients the way Postfix's trivial-rewrite does: a transport
// table entry, the relayhost for other mail, and the special transports.
func ExampleRouter_Route() {
	ctx := context.Background()
	relayDomains, _, err := lookup.ParseList(ctx, "example.com", lookup.ListOptions{Name: "relay_domains"})
	if err != nil {
		log.Fatal(err)
	}
	router, err := transport.NewRouter(transport.RouterConfig{
		Domains: &lookup.Domains{RelayDomains: relayDomains},
		TransportMaps: []lookup.Table{lookup.NewMap(map[string]string{
			"example.com":          "relay:[primary.example.com]",
			"gone@example.com":     "error:5.1.6 User has moved",
			".archive.example.org": "lmtp:unix:/run/archive/lmtp",
		})},
		Relayhost: "[smarthost.example.net]:587",
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, rcpt := range []string{"user@example.com", "gone@example.com", "x@old.archive.example.org", "someone@elsewhere.test"} {
		r, err := router.Route(ctx, rcpt)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%-26s %-8s %s\n", rcpt, r.Class, r)
	}
	// Output:
	// user@example.com           relay    relay:[primary.example.com]
	// gone@example.com           relay    error:5.1.6 User has moved
	// x@old.archive.example.org  default  lmtp:unix:/run/archive/lmtp
	// someone@elsewhere.test     default  smtp:[smarthost.example.net]:587
}

// The backup-MX rule against a fake DNS: as the preference-20 MX we only
// try the better one; as the best MX the mail would loop.
func ExampleAddressConfig_Resolve() {
	srv, err := dnstest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	err = srv.AddZone(`
$ORIGIN example.com.
@        300 IN MX 10 mx1
@        300 IN MX 20 backup
mx1      300 IN A 192.0.2.1
backup   300 IN A 192.0.2.25
loop     300 IN MX 10 backup
`)
	if err != nil {
		log.Fatal(err)
	}
	dns, err := transport.NewDNS(transport.DNSConfig{Servers: []string{srv.Addr()}})
	if err != nil {
		log.Fatal(err)
	}
	cfg := &transport.AddressConfig{Resolver: dns, MyAddresses: []netip.Addr{netip.MustParseAddr("192.0.2.25")}}
	ctx := context.Background()
	a, err := cfg.Resolve(ctx, transport.Hop{Host: "example.com"}, false)
	fmt.Println(a.Dests, a.IAmMX, err)
	_, err = cfg.Resolve(ctx, transport.Hop{Host: "loop.example.com"}, false)
	fmt.Println(err)
	// Output:
	// [mx1.example.com[192.0.2.1]:25] true <nil>
	// 5.4.6 mail for loop.example.com loops back to myself
}

// Delivering a message along a route to a go-smtp server playing the next
// hop: one recipient refused at RCPT, one delivered.
func ExampleAgent_Deliver() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := smtp.NewServer(backend{})
	srv.Domain = "mx.example.com"
	go srv.Serve(ln)
	defer srv.Close()

	dns, err := transport.NewDNS(transport.DNSConfig{Servers: []string{"127.0.0.1:1"}}) // never asked for [addr] nexthops
	if err != nil {
		log.Fatal(err)
	}
	c, err := client.New(client.Config{Hostname: "relay.example.net"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	agent, err := transport.NewAgent(transport.AgentConfig{Sender: c, Addresses: transport.AddressConfig{Resolver: dns}})
	if err != nil {
		log.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	route := transport.Route{Transport: "smtp", Nexthop: "[127.0.0.1]:" + port}
	body := "Subject: hello\n\nHi.\n"
	d := agent.Deliver(context.Background(), route, &client.Message{
		From:       "alice@example.org",
		Recipients: []client.Recipient{{Address: "bob@example.com"}, {Address: "nobody@example.com"}},
		Body:       strings.NewReader(body), Size: int64(len(body)),
	})
	for _, r := range d.Recipients {
		fmt.Println(r.Recipient, r.Status, r.Code(), r.Enhanced(), r.Stage.Command())
	}
	// Output:
	// bob@example.com delivered 250 2.0.0 end of DATA
	// nobody@example.com failed 550 5.1.1 RCPT TO
}

// backend is a go-smtp backend that knows one mailbox.
type backend struct{}

func (backend) NewSession(*smtp.Conn) (smtp.Session, error) { return session{}, nil }

type session struct{}

func (session) Mail(string, *smtp.MailOptions) error { return nil }
func (session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if to != "bob@example.com" {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "User unknown"}
	}
	return nil
}
func (session) Data(r io.Reader) error { _, err := io.Copy(io.Discard, r); return err }
func (session) Reset()                 {}
func (session) Logout() error          { return nil }

// STARTTLS policies per destination from a table in the format of Postfix
// smtp_tls_policy_maps.
func ExampleTLSPolicyMap() {
	policies := &transport.TLSPolicyMap{
		Tables: []lookup.Table{lookup.NewMap(map[string]string{
			"example.com":         "secure",
			".example.com":        "encrypt",
			"[mail.partner.test]": "verify match=mail.partner.test",
			"legacy.test":         "none",
		})},
		Default: transport.TLSPolicy{Level: client.TLSOpportunistic},
	}
	for _, nexthop := range []string{"example.com", "lists.example.com", "[mail.partner.test]", "legacy.test", "other.test"} {
		n, err := transport.ParseNexthop(nexthop)
		if err != nil {
			log.Fatal(err)
		}
		p, err := policies.TLSPolicy(context.Background(), transport.Route{}, n.Hops[0])
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%-20s %-8s %v\n", nexthop, p.Level, p.Match)
	}
	// Output:
	// example.com          verify   [nexthop dot-nexthop]
	// lists.example.com    encrypt  []
	// [mail.partner.test]  verify   [mail.partner.test]
	// legacy.test          none     []
	// other.test           may      []
}
