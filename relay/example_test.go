package relay_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/mail"
	"net/netip"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay"
	"github.com/mxrelay/mxrelay/relay/maincf"
)

// Carry a Postfix main.cf over and ask why a recipient was accepted:
// PolicyConfig builds policy's configuration from the main.cf, as Load
// does for the daemon.
func ExamplePolicyConfig() {
	cf, err := maincf.Parse(strings.NewReader(`compatibility_level = 3.6
myhostname = mx.example.net
inet_interfaces = loopback-only
mynetworks = 192.0.2.0/24
relay_domains = example.com
relay_recipient_maps = inline:{ @example.com=x }
smtpd_recipient_restrictions = check_recipient_access inline:{ {spam@example.com=REJECT no thanks} }
`), "main.cf")
	if err != nil {
		log.Fatal(err)
	}
	c, err := relay.PolicyConfig(cf)
	if err != nil {
		log.Fatal(err)
	}
	p, err := policy.New(context.Background(), c)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	for _, rcpt := range []string{"<anyone@example.com>", "<spam@example.com>"} {
		d := p.Check(context.Background(), &policy.Request{Stage: policy.StageRcpt,
			ClientAddr: netip.MustParseAddr("198.51.100.1"), Recipient: rcpt})
		fmt.Println(d.Reply(), "|", d.Reason)
	}
	// Output:
	// 250 2.1.5 Ok | reject_unlisted_recipient relay_recipient_maps @example.com=x
	// 554 5.7.1 <spam@example.com>: Recipient address rejected: no thanks | check_recipient_access inline:{ {spam@example.com=REJECT no thanks} } spam@example.com=REJECT no thanks
}

// An MX is a go-smtp Backend: mount it in your own smtp.Server. Here a
// backup MX for example.test accepts one known recipient into an
// in-memory queue and answers the others as Postfix does.
func ExampleMX_NewSession() {
	ctx := context.Background()
	pol, err := policy.New(ctx, policy.Config{
		MyHostname:         "mx2.example.net",
		RelayDomains:       "example.test",
		RelayRecipientMaps: "inline:{ alice@example.test=OK }",
	})
	if err != nil {
		panic(err)
	}
	defer pol.Close()
	q := queue.NewMemory()
	r, err := relay.New(relay.Config{
		Hostname: "mx2.example.net",
		Policy:   pol,
		Queue:    queue.NewScheduler(q, queue.Config{}),
	})
	if err != nil {
		panic(err)
	}
	srv := smtp.NewServer(r)
	srv.Domain = r.Hostname()
	srv.MaxMessageBytes = r.MessageSizeLimit()
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(l)
	defer srv.Close()

	c, _ := smtp.Dial(l.Addr().String())
	defer c.Close()
	c.Hello("client.example")
	c.Mail("sender@elsewhere.example", nil)
	for _, rcpt := range []string{"alice@example.test", "bob@example.test", "x@stranger.example"} {
		if err := c.Rcpt(rcpt, nil); err != nil {
			se := err.(*smtp.SMTPError)
			fmt.Printf("%s: %d %d.%d.%d %s\n", rcpt, se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], se.Message)
		} else {
			fmt.Printf("%s: accepted\n", rcpt)
		}
	}
	w, _ := c.Data()
	io.WriteString(w, "Subject: hello\r\n\r\nHi Alice.\r\n")
	w.Close()
	fmt.Println("queued messages:", q.Len())
	// Output:
	// alice@example.test: accepted
	// bob@example.test: 550 5.1.1 <bob@example.test>: Recipient address rejected: User unknown in relay recipient table
	// x@stranger.example: 454 4.7.1 <x@stranger.example>: Relay access denied
	// queued messages: 1
}

// An MX mounted in your own server shuts down with CloseSessions: idle
// clients are told "421 4.3.2 Service shutting down", a message being
// received is finished first; then close the server.
func ExampleMX_CloseSessions() {
	ctx := context.Background()
	r, err := relay.New(relay.Config{
		Hostname: "mx2.example.net",
		Policy:   relay.CheckerFunc(func(context.Context, *policy.Request) policy.Decision { return policy.Decision{} }),
		Queue:    queue.NewScheduler(queue.NewMemory(), queue.Config{}),
	})
	if err != nil {
		panic(err)
	}
	srv := smtp.NewServer(r)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(l)

	c, _ := net.Dial("tcp", l.Addr().String())
	defer c.Close()
	in := bufio.NewReader(c)
	in.ReadString('\n') // 220
	io.WriteString(c, "HELO client.example\r\n")
	in.ReadString('\n') // 250

	shutdownCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	fmt.Println("CloseSessions:", r.CloseSessions(shutdownCtx))
	srv.Close()
	reply, _ := in.ReadString('\n')
	fmt.Println("the idle client read:", strings.TrimSpace(reply))
	_, err = in.ReadString('\n')
	fmt.Println("then:", err)
	// Output:
	// CloseSessions: <nil>
	// the idle client read: 421 4.3.2 Service shutting down
	// then: EOF
}

// A DSN is built as Postfix's bounce daemon builds it.
func ExampleDSN() {
	d := &relay.DSN{
		Kind:     relay.DSNFailure,
		Hostname: "mx2.example.net",
		QueueID:  "4F2A1C0123",
		Sender:   "sender@elsewhere.example",
		Arrival:  time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC),
		Date:     time.Date(2026, 11, 24, 9, 5, 0, 0, time.UTC),
		Recipients: []relay.DSNRecipient{{
			Address:    "bob@example.test",
			Status:     "5.1.1",
			RemoteMTA:  "mx1.example.test",
			Diagnostic: "550 5.1.1 <bob@example.test>: Recipient address rejected: User unknown",
			Reason:     "host mx1.example.test[192.0.2.1] said: 550 5.1.1 <bob@example.test>: Recipient address rejected: User unknown (in reply to RCPT TO command)",
		}},
	}
	var buf bytes.Buffer
	d.Write(&buf, strings.NewReader("Subject: hello\r\n\r\nHi Bob.\r\n"))
	m, _ := mail.ReadMessage(&buf)
	fmt.Println(m.Header.Get("From"))
	fmt.Println(m.Header.Get("Subject"))
	fmt.Println(m.Header.Get("Content-Type"))
	// Output:
	// Mail Delivery System <MAILER-DAEMON@mx2.example.net>
	// Undelivered Mail Returned to Sender
	// multipart/report; report-type=delivery-status; boundary="4F2A1C0123.1795511100/mx2.example.net"
}

// Load assembles a relay from a main.cf. Tables supplies Go tables by
// spec: here relay_recipient_maps names "http:users", answered by a
// function (an HTTP or SQL backed recipient list in a real gateway).
func ExampleLoad() {
	ctx := context.Background()
	users := lookup.TableFunc(func(ctx context.Context, key string) (string, bool, error) {
		return "OK", key == "alice@example.test", nil
	})
	cf, _ := maincf.Parse(strings.NewReader(`compatibility_level = 3.6
myhostname = mx2.example.net
mynetworks =
relay_domains = example.test
relay_recipient_maps = http:users
`), "main.cf")
	ld, err := relay.Load(ctx, cf, relay.LoadOptions{
		Queue:  queue.NewMemory(),
		Tables: map[string]lookup.Table{"http:users": users},
		DNS:    []string{"127.0.0.1:53"}, // not asked in this example
	})
	if err != nil {
		panic(err)
	}
	defer ld.Close()
	srv, addr := serveExample(ld.Server)
	defer srv.Shutdown(ctx)

	c, _ := smtp.Dial(addr)
	defer c.Close()
	c.Hello("client.example")
	c.Mail("sender@elsewhere.example", nil)
	fmt.Println(c.Rcpt("alice@example.test", nil))
	fmt.Println(c.Rcpt("mallory@example.test", nil))
	// Output:
	// <nil>
	// SMTP error 550: <mallory@example.test>: Recipient address rejected: User unknown in relay recipient table
}

// serveExample runs a Server on a loopback port.
func serveExample(sc relay.ServerConfig) (*relay.Server, string) {
	srv, err := relay.NewServer(sc)
	if err != nil {
		panic(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(context.Background(), l)
	return srv, l.Addr().String()
}

// BackupMX writes a backup MX's main.cf in Go, with a Go table of
// recipients; SetList and SetTable change it as main.cf lines would, and
// Load reads it as it reads a main.cf file.
func ExampleBackupMX() {
	ctx := context.Background()
	users := map[string]bool{"alice@example.test": true} // keys arrive in lower case
	recipients := lookup.TableFunc(func(_ context.Context, key string) (string, bool, error) {
		return "OK", users[key], nil
	})
	cf := relay.BackupMX("mx2.example.net", []string{"example.test", "example.org"}, recipients)
	cf.SetTable("transport_maps", lookup.NewMap(map[string]string{"example.org": "relay:[127.0.0.1]:2526"}))
	cf.SetList("mynetworks", "127.0.0.0/8", "[::1]/128", "192.0.2.0/24")
	for _, name := range cf.Names() {
		v, _ := cf.Raw(name)
		fmt.Println(name, "=", v)
	}

	ld, err := relay.Load(ctx, cf, relay.LoadOptions{
		Queue: queue.NewMemory(),
		DNS:   []string{"127.0.0.1:1"}, // not asked in this example
	})
	if err != nil {
		panic(err)
	}
	defer ld.Close()
	srv, addr := serveExample(ld.Server)
	defer srv.Shutdown(ctx)

	c, _ := smtp.Dial(addr)
	defer c.Close()
	c.Hello("client.example")
	c.Mail("sender@elsewhere.example", nil)
	fmt.Println(c.Rcpt("Alice@Example.TEST", nil))
	fmt.Println(c.Rcpt("mallory@example.test", nil))
	// Output:
	// compatibility_level = 3.6
	// myhostname = mx2.example.net
	// relay_domains = example.test, example.org
	// relay_recipient_maps = go:relay_recipient_maps
	// mynetworks = 127.0.0.0/8, [::1]/128, 192.0.2.0/24
	// transport_maps = go:transport_maps
	// <nil>
	// SMTP error 550: <mallory@example.test>: Recipient address rejected: User unknown in relay recipient table
}
