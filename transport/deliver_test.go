package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"
	"github.com/mxrelay/mxrelay/internal/peertest"
	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/transport/client"
	"github.com/mxrelay/mxrelay/transport/dnstest"
)

// deliverZone is the DNS world of the delivery tests. 127.0.0.1 is "us".
const deliverZone = `
$ORIGIN test.
$TTL 300
test.       IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60
three       IN MX 10 a.three
three       IN MX 20 b.three
three       IN MX 30 c.three
a.three     IN A 127.0.20.1
b.three     IN A 127.0.20.2
c.three     IN A 127.0.20.3
bk          IN MX 10 primary.bk
bk          IN MX 20 us
primary.bk  IN A 127.0.21.1
us          IN A 127.0.0.1
best        IN MX 10 us
best        IN MX 20 other.best
other.best  IN A 127.0.22.1
nullmx      IN MX 0 .
nullmx      IN A 127.0.23.1
dead        IN MX 10 mx.dead
mx.dead     IN A 127.0.24.1
fallback    IN A 127.0.25.1
h1          IN A 127.0.26.1
h2          IN A 127.0.26.2
many        IN MX 10 m.many
m.many      IN A 127.0.27.1
m.many      IN A 127.0.27.2
m.many      IN A 127.0.27.3
m.many      IN A 127.0.27.4
sec         IN MX 10 a.sec
a.sec       IN A 127.0.28.1
bad         IN MX 10 mx.bad
mx.bad      IN A 127.0.29.1
ghost       IN MX 10 gone.ghost
ghost       IN MX 20 us
loop        IN MX 10 a.loop
loop        IN MX 20 b.loop
a.loop      IN A 127.0.30.1
b.loop      IN A 127.0.30.2
loop2       IN MX 10 a.loop2
loop2       IN MX 20 b.loop2
loop2       IN MX 30 c.loop2
a.loop2     IN A 127.0.31.1
b.loop2     IN A 127.0.31.2
c.loop2     IN A 127.0.31.3
loop3       IN MX 10 a.loop2
loop3       IN MX 20 b.loop2
`

// env is one delivery test's world: DNS, address map, client and agent.
type env struct {
	dns   *dnstest.Server
	w     *world
	agent *Agent
}

func newEnv(t *testing.T, mod func(*AgentConfig), cmod func(*client.Config)) *env {
	t.Helper()
	srv, r := newDNSServerZone(t, deliverZone)
	w := &world{}
	cfg := AgentConfig{
		Sender:    newSender(t, w, cmod),
		Addresses: AddressConfig{Resolver: r, MyAddresses: us, Shuffle: noShuffle},
	}
	if mod != nil {
		mod(&cfg)
	}
	a, err := NewAgent(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{dns: srv, w: w, agent: a}
}

func smtpRoute(nexthop string) Route {
	return Route{Transport: "smtp", Nexthop: nexthop, Class: lookup.ClassDefault}
}

func wantRcpt(t *testing.T, rr RecipientResult, status client.Status, code int, enhanced, host, text string) {
	t.Helper()
	if rr.Status != status || rr.Code() != code || rr.Enhanced() != enhanced || rr.Host != host || !strings.Contains(rr.Text(), text) {
		t.Fatalf("%s: got %v %d %s host %q %q; want %v %d %s host %q containing %q",
			rr.Recipient, rr.Status, rr.Code(), rr.Enhanced(), rr.Host, rr.Text(), status, code, enhanced, host, text)
	}
	if rr.Temporary() != (status == client.Deferred) {
		t.Fatalf("Temporary() = %v for %v", rr.Temporary(), status)
	}
}

func triedHosts(d *Delivery) []string {
	var out []string
	for _, x := range d.Tried {
		out = append(out, x.Addr.String())
	}
	return out
}

// Try-next-address (smtp_trouble.c): a dead primary (connect refused) and
// a 4xx greeting move on to the next MX; the third delivers.
func TestDeliverNextAddressAfterConnectFailureAndGreeting(t *testing.T) {
	e := newEnv(t, nil, nil)
	busy := peertest.Script(t, "421 4.3.2 b.three busy\r\n", func(string) string { return "" })
	e.w.route("127.0.20.2:25", busy)
	c := newPeer(t, &peer{})
	e.w.route("127.0.20.3:25", c.addr)

	d := e.agent.Deliver(context.Background(), smtpRoute("three.test"), message("u@three.test", "v@three.test"))
	for _, rr := range d.Recipients {
		wantRcpt(t, rr, client.Delivered, 250, "2.0.0", "c.three.test", "host c.three.test[127.0.20.3] said: 250")
		if rr.Addr != "127.0.20.3:25" || rr.Stage != client.StageDataDone {
			t.Fatalf("result %+v", rr)
		}
	}
	if got := triedHosts(d); !slices.Equal(got, []string{"127.0.20.1", "127.0.20.2", "127.0.20.3"}) {
		t.Fatalf("tried %v", got)
	}
	if d.Sessions != 1 {
		t.Errorf("sessions %d: handshake failures must not count", d.Sessions)
	}
	if m := c.messages(); len(m) != 1 || !slices.Equal(m[0].Rcpts, []string{"u@three.test", "v@three.test"}) ||
		m[0].Data != "Subject: test\r\n\r\nhello\r\n" {
		t.Fatalf("peer got %+v", m)
	}
}

// A 5xx greeting is skipped like a failure (smtp_skip_5xx_greeting),
// a 4xx EHLO and a timeout move on too.
func TestDeliverNextAddressAfterHeloAndTimeout(t *testing.T) {
	e := newEnv(t, nil, func(c *client.Config) { c.Timeouts.Helo = 200 * time.Millisecond })
	e.w.route("127.0.20.1:25", peertest.Script(t, "554 5.7.1 go away\r\n", func(string) string { return "" }))
	e.w.route("127.0.20.2:25", peertest.Script(t, "220 b.three\r\n", func(cmd string) string {
		return "451 4.3.0 not now\r\n"
	}))
	e.w.route("127.0.20.3:25", peertest.Script(t, "", nil)) // never greets
	d := e.agent.Deliver(context.Background(), smtpRoute("three.test"), message("u@three.test"))
	// The last reason is the timeout at c.
	wantRcpt(t, d.Recipients[0], client.Deferred, 451, "4.4.2", "c.three.test",
		"conversation with c.three.test[127.0.20.3] timed out while receiving the initial server greeting")
	if len(d.Tried) != 3 || d.Sessions != 0 {
		t.Fatalf("tried %v, %d sessions", d.Tried, d.Sessions)
	}
}

// RCPT 5xx is final for that recipient, RCPT 4xx keeps the recipient
// for the next address, which is offered only the pending ones.
func TestDeliverRcptReplies(t *testing.T) {
	e := newEnv(t, nil, nil)
	a := newPeer(t, &peer{rcpt: func(to string) error {
		switch to {
		case "bad@three.test":
			return smtpErr(550, smtp.EnhancedCode{5, 1, 1}, "User unknown")
		case "later@three.test":
			return smtpErr(450, smtp.EnhancedCode{4, 2, 1}, "Mailbox busy")
		}
		return nil
	}})
	b := newPeer(t, &peer{})
	e.w.route("127.0.20.1:25", a.addr)
	e.w.route("127.0.20.2:25", b.addr)
	d := e.agent.Deliver(context.Background(), smtpRoute("three.test"), message("ok@three.test", "bad@three.test", "later@three.test"))
	wantRcpt(t, d.Recipients[0], client.Delivered, 250, "2.0.0", "a.three.test", "said: 250")
	wantRcpt(t, d.Recipients[1], client.Failed, 550, "5.1.1", "a.three.test",
		"host a.three.test[127.0.20.1] said: 550 5.1.1 User unknown (in reply to RCPT TO command)")
	if d.Recipients[1].Stage != client.StageRcpt || d.Recipients[1].Addr != "127.0.20.1:25" {
		t.Fatalf("stage %v addr %s", d.Recipients[1].Stage, d.Recipients[1].Addr)
	}
	wantRcpt(t, d.Recipients[2], client.Delivered, 250, "2.0.0", "b.three.test", "said: 250")
	if got := b.offered(); !slices.Equal(got, []string{"later@three.test"}) {
		t.Fatalf("second MX was offered %v", got)
	}
	if d.Sessions != 2 {
		t.Fatalf("sessions %d", d.Sessions)
	}
}

// smtp_mx_session_limit: at most two established sessions per nexthop; the
// recipient is then deferred with the last server's reply.
func TestDeliverSessionLimit(t *testing.T) {
	e := newEnv(t, nil, nil)
	for i, host := range []string{"127.0.20.1:25", "127.0.20.2:25", "127.0.20.3:25"} {
		p := newPeer(t, &peer{rcpt: func(string) error {
			return smtpErr(452, smtp.EnhancedCode{4, 2, 2}, fmt.Sprintf("Mailbox full %d", i))
		}})
		e.w.route(host, p.addr)
	}
	d := e.agent.Deliver(context.Background(), smtpRoute("three.test"), message("u@three.test"))
	wantRcpt(t, d.Recipients[0], client.Deferred, 452, "4.2.2", "b.three.test", "Mailbox full 1 (in reply to RCPT TO command)")
	if len(d.Tried) != 2 || d.Sessions != 2 {
		t.Fatalf("tried %v, %d sessions", d.Tried, d.Sessions)
	}
	if slices.Contains(e.w.dialed(), "127.0.20.3:25") {
		t.Fatal("third MX contacted beyond smtp_mx_session_limit")
	}
}

// smtp_mx_address_limit counts every address tried, reachable or not.
func TestDeliverAddressLimit(t *testing.T) {
	e := newEnv(t, func(c *AgentConfig) { c.Addresses.AddressLimit = 2 }, nil)
	d := e.agent.Deliver(context.Background(), smtpRoute("many.test"), message("u@many.test"))
	if got := e.w.dialed(); !slices.Equal(got, []string{"127.0.27.1:25", "127.0.27.2:25"}) {
		t.Fatalf("dialed %v", got)
	}
	wantRcpt(t, d.Recipients[0], client.Deferred, 451, "4.4.1", "m.many.test", "connect to m.many.test[127.0.27.2]:25: Connection refused")
}

// MAIL or DATA 5xx bounces every recipient still pending; a 4xx at end
// of data offers them to the next address.
func TestDeliverDataReplies(t *testing.T) {
	e := newEnv(t, nil, nil)
	a := newPeer(t, &peer{data: func() error { return smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "try again") }})
	b := newPeer(t, &peer{data: func() error { return smtpErr(554, smtp.EnhancedCode{5, 6, 0}, "content rejected") }})
	e.w.route("127.0.20.1:25", a.addr)
	e.w.route("127.0.20.2:25", b.addr)
	d := e.agent.Deliver(context.Background(), smtpRoute("three.test"), message("u@three.test", "v@three.test"))
	for _, rr := range d.Recipients {
		wantRcpt(t, rr, client.Failed, 554, "5.6.0", "b.three.test", "content rejected (in reply to end of DATA command)")
	}
	if slices.Contains(e.w.dialed(), "127.0.20.3:25") {
		t.Fatal("a 5xx must end the delivery")
	}
}

// As backup MX we only try the better MX (smtp_addr.c); when it is down the
// mail is deferred, and the fallback relay is not used (smtp_connect.c).
func TestDeliverBackupMX(t *testing.T) {
	e := newEnv(t, func(c *AgentConfig) { c.FallbackRelay = "[fallback.test]" }, nil)
	d := e.agent.Deliver(context.Background(), smtpRoute("bk.test"), message("u@bk.test"))
	if !d.IAmMX {
		t.Fatal("IAmMX not reported")
	}
	if got := e.w.dialed(); !slices.Equal(got, []string{"127.0.21.1:25"}) {
		t.Fatalf("dialed %v: only the primary may be tried", got)
	}
	wantRcpt(t, d.Recipients[0], client.Deferred, 451, "4.4.1", "primary.bk.test", "connect to primary.bk.test")

	// The primary up: delivered there.
	p := newPeer(t, &peer{})
	e.w.route("127.0.21.1:25", p.addr)
	d = e.agent.Deliver(context.Background(), smtpRoute("bk.test"), message("u@bk.test"))
	wantRcpt(t, d.Recipients[0], client.Delivered, 250, "2.0.0", "primary.bk.test", "250")
}

// As backup MX of a domain whose better MX has no address, the mail
// is deferred 4.4.4 (never bounced, never sent to the fallback relay).
func TestDeliverPrimaryWithoutAddress(t *testing.T) {
	e := newEnv(t, func(c *AgentConfig) { c.FallbackRelay = "[fallback.test]" }, nil)
	d := e.agent.Deliver(context.Background(), smtpRoute("ghost.test"), message("u@ghost.test"))
	wantRcpt(t, d.Recipients[0], client.Deferred, 450, "4.4.4", "", "unable to find primary relay for ghost.test")
	if !d.IAmMX || len(e.w.dialed()) != 0 {
		t.Fatalf("IAmMX %v, dialed %v", d.IAmMX, e.w.dialed())
	}
}

// Mail to a domain whose best MX is us, or to a [host] that is us,
// bounces 5.4.6; through relayhost it is a configuration problem (4.3.5).
// No fallback relay is tried after a loop.
func TestDeliverLoop(t *testing.T) {
	e := newEnv(t, func(c *AgentConfig) { c.FallbackRelay = "[fallback.test]" }, nil)
	fb := newPeer(t, &peer{})
	e.w.route("127.0.25.1:25", fb.addr)
	d := e.agent.Deliver(context.Background(), smtpRoute("best.test"), message("u@best.test"))
	wantRcpt(t, d.Recipients[0], client.Failed, 554, "5.4.6", "", "mail for best.test loops back to myself")
	d = e.agent.Deliver(context.Background(), smtpRoute("[us.test]"), message("u@x.test"))
	wantRcpt(t, d.Recipients[0], client.Failed, 554, "5.4.6", "", "mail for us.test loops back to myself")
	r := smtpRoute("[us.test]")
	r.Relayhost = true
	d = e.agent.Deliver(context.Background(), r, message("u@x.test"))
	wantRcpt(t, d.Recipients[0], client.Deferred, 451, "4.3.5", "", "loops back to myself (relayhost configuration problem)")
	if len(e.w.dialed()) != 0 || len(fb.messages()) != 0 {
		t.Fatalf("dialed %v after a loop", e.w.dialed())
	}
}

// DNS failures (a null MX, a temporary MX lookup failure, a domain that
// does not exist) decide without any connection.
func TestDeliverDNSFailures(t *testing.T) {
	e := newEnv(t, nil, nil)
	d := e.agent.Deliver(context.Background(), smtpRoute("nullmx.test"), message("u@nullmx.test"))
	wantRcpt(t, d.Recipients[0], client.Failed, 550, "5.1.0", "", "Domain nullmx.test does not accept mail (nullMX)")
	e.dns.SetFault("three.test", dns.TypeMX, dnstest.ServFail)
	d = e.agent.Deliver(context.Background(), smtpRoute("three.test"), message("u@three.test"))
	wantRcpt(t, d.Recipients[0], client.Deferred, 450, "4.4.3", "", "Name service error for name=three.test type=MX")
	d = e.agent.Deliver(context.Background(), smtpRoute("nosuch.test"), message("u@nosuch.test"))
	wantRcpt(t, d.Recipients[0], client.Failed, 550, "5.4.4", "", "Host or domain name not found")
	if len(e.w.dialed()) != 0 {
		t.Fatalf("dialed %v", e.w.dialed())
	}
}

// smtp_fallback_relay takes default-class mail the destination could
// not; never relay-class mail; its hard failure is a configuration problem.
func TestDeliverFallbackRelay(t *testing.T) {
	e := newEnv(t, func(c *AgentConfig) { c.FallbackRelay = "[fallback.test]" }, nil)
	fb := newPeer(t, &peer{})
	e.w.route("127.0.25.1:25", fb.addr)
	d := e.agent.Deliver(context.Background(), smtpRoute("dead.test"), message("u@dead.test"))
	wantRcpt(t, d.Recipients[0], client.Delivered, 250, "2.0.0", "fallback.test", "250")
	if got := triedHosts(d); !slices.Equal(got, []string{"127.0.24.1", "127.0.25.1"}) {
		t.Fatalf("tried %v", got)
	}

	r := smtpRoute("dead.test")
	r.Class = lookup.ClassRelay
	d = e.agent.Deliver(context.Background(), r, message("u@dead.test"))
	wantRcpt(t, d.Recipients[0], client.Deferred, 451, "4.4.1", "mx.dead.test", "connect to mx.dead.test")
	if len(fb.messages()) != 1 {
		t.Fatal("relay-class mail went to the fallback relay")
	}

	e2 := newEnv(t, func(c *AgentConfig) { c.FallbackRelay = "[nosuch.test]" }, nil)
	d = e2.agent.Deliver(context.Background(), smtpRoute("dead.test"), message("u@dead.test"))
	// The destination's connect failure is temporary: it stays the reason.
	wantRcpt(t, d.Recipients[0], client.Deferred, 451, "4.4.1", "mx.dead.test", "connect to")
	d = e2.agent.Deliver(context.Background(), smtpRoute("nullmx.test"), message("u@nullmx.test"))
	wantRcpt(t, d.Recipients[0], client.Failed, 550, "5.1.0", "", "nullMX")
	e2.dns.SetFault("mx.dead.test", dnstest.AnyType, dnstest.Refused)
	d = e2.agent.Deliver(context.Background(), smtpRoute("dead.test"), message("u@dead.test"))
	wantRcpt(t, d.Recipients[0], client.Deferred, 451, "4.3.5", "", "smtp_fallback_relay configuration problem")
	if _, err := NewAgent(AgentConfig{Sender: e.agent.c.Sender, Addresses: e.agent.c.Addresses, FallbackRelay: "[x"}); err == nil {
		t.Fatal("bad fallback relay accepted")
	}
}

// The special transports error:, retry: and discard:, and transports
// without a protocol.
func TestDeliverSpecialRoutes(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	d := e.agent.Deliver(ctx, Route{Transport: "error", Nexthop: "5.1.6 User has moved"}, message("a@x.test", "b@x.test"))
	for _, rr := range d.Recipients {
		wantRcpt(t, rr, client.Failed, 550, "5.1.6", "", "User has moved")
	}
	d = e.agent.Deliver(ctx, Route{Transport: "retry", Nexthop: "Address is undeliverable"}, message("a@x.test"))
	wantRcpt(t, d.Recipients[0], client.Deferred, 450, "4.0.0", "", "Address is undeliverable")
	d = e.agent.Deliver(ctx, Route{Transport: "discard", Nexthop: "x.test"}, message("a@x.test"))
	if rr := d.Recipients[0]; rr.Status != client.Delivered || !rr.Discarded || rr.Text() != "discarded" {
		t.Fatalf("discard: %+v", rr)
	}
	d = e.agent.Deliver(ctx, Route{Transport: "local", Nexthop: "relay.test"}, message("a@x.test"))
	wantRcpt(t, d.Recipients[0], client.Deferred, 451, "4.3.0", "", `mail transport unavailable: "local"`)
	// Delivers tells in advance which routes Deliver can take.
	for name, want := range map[string]bool{"smtp": true, "relay": true, "lmtp": true, "error": true, "retry": true, "discard": true, "local": false, "virtual": false, "uucp": false} {
		if got := e.agent.Delivers(name); got != want {
			t.Errorf("Delivers(%q) = %v, want %v", name, got, want)
		}
	}
	d = e.agent.Deliver(ctx, smtpRoute("[bad"), message("a@x.test"))
	wantRcpt(t, d.Recipients[0], client.Deferred, 451, "4.3.5", "", "")
	if len(e.w.dialed()) != 0 {
		t.Fatalf("dialed %v", e.w.dialed())
	}
}

// A Router's route, a nexthop list, and the targets it becomes: the first
// [host] is down, the second takes the mail.
func TestDeliverRouterNexthopList(t *testing.T) {
	e := newEnv(t, nil, nil)
	h2 := newPeer(t, &peer{})
	e.w.route("127.0.26.2:2525", h2.addr)
	rt, err := NewRouter(RouterConfig{TransportMaps: []lookup.Table{lookup.NewMap(map[string]string{
		"example.test": "smtp:[h1.test]:2525, [h2.test]:2525",
	})}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := rt.Route(context.Background(), "u@example.test")
	if err != nil {
		t.Fatal(err)
	}
	d := e.agent.Deliver(context.Background(), r, message("u@example.test"))
	wantRcpt(t, d.Recipients[0], client.Delivered, 250, "2.0.0", "h2.test", "250")
	if got := e.w.dialed(); !slices.Equal(got, []string{"127.0.26.1:2525", "127.0.26.2:2525"}) {
		t.Fatalf("dialed %v", got)
	}
	// A relayhost route is marked, and a transport entry clears the mark.
	rt, _ = NewRouter(RouterConfig{Relayhost: "[h1.test]", TransportMaps: []lookup.Table{lookup.NewMap(map[string]string{
		"other.test": "smtp:[h2.test]",
	})}})
	if r, _ := rt.Route(context.Background(), "u@example.test"); !r.Relayhost || r.Nexthop != "[h1.test]" {
		t.Fatalf("relayhost route %+v", r)
	}
	if r, _ := rt.Route(context.Background(), "u@other.test"); r.Relayhost {
		t.Fatalf("transport entry route %+v", r)
	}
}

// LMTP over a UNIX-domain socket: one reply per recipient.
func TestDeliverLMTP(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "lmtp")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	p := startPeer(t, ln, &peer{lmtp: func(to string) error {
		if to == "full@x.test" {
			return smtpErr(552, smtp.EnhancedCode{5, 2, 2}, "Mailbox full")
		}
		return nil
	}}, true)
	e := newEnv(t, nil, nil)
	d := e.agent.Deliver(context.Background(), Route{Transport: "lmtp", Nexthop: "unix:" + sock}, message("ok@x.test", "full@x.test"))
	wantRcpt(t, d.Recipients[0], client.Delivered, 250, "2.0.0", sock, "250")
	wantRcpt(t, d.Recipients[1], client.Failed, 552, "5.2.2", sock, "Mailbox full (in reply to end of DATA command)")
	if len(p.messages()) != 1 {
		t.Fatalf("messages %+v", p.messages())
	}
	os.Remove(sock)
}

// A relative unix: nexthop, as transport_maps writes it
// ("lmtp:unix:private/lmtp"), is dialed under SocketDirectory, Postfix's
// queue_directory; an absolute one is dialed as written; without a
// SocketDirectory a relative path is relative to the working directory.
func TestDeliverLMTPSocketDirectory(t *testing.T) {
	queueDir := t.TempDir()
	if err := os.Mkdir(filepath.Join(queueDir, "private"), 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(queueDir, "private", "lmtp")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	p := startPeer(t, ln, &peer{}, true)
	rt, err := NewRouter(RouterConfig{TransportMaps: []lookup.Table{lookup.NewMap(map[string]string{
		"x.test": "lmtp:unix:private/lmtp",
	})}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := rt.Route(context.Background(), "u@x.test")
	if err != nil {
		t.Fatal(err)
	}
	if r.Transport != "lmtp" || r.Nexthop != "unix:private/lmtp" {
		t.Fatalf("route %+v", r)
	}

	// Relative: under SocketDirectory. Host keeps the path as written.
	e := newEnv(t, func(c *AgentConfig) { c.SocketDirectory = queueDir }, nil)
	d := e.agent.Deliver(context.Background(), r, message("u@x.test"))
	wantRcpt(t, d.Recipients[0], client.Delivered, 250, "2.0.0", "private/lmtp", "250")
	if got := d.Recipients[0].Addr; got != sock {
		t.Fatalf("Addr %q, want %q", got, sock)
	}
	if got := e.w.dialed(); !slices.Equal(got, []string{sock}) {
		t.Fatalf("dialed %v, want [%s]", got, sock)
	}

	// Absolute: as written, whatever SocketDirectory says.
	e = newEnv(t, func(c *AgentConfig) { c.SocketDirectory = t.TempDir() }, nil)
	d = e.agent.Deliver(context.Background(), Route{Transport: "lmtp", Nexthop: "unix:" + sock}, message("u@x.test"))
	wantRcpt(t, d.Recipients[0], client.Delivered, 250, "2.0.0", sock, "250")
	if got := e.w.dialed(); !slices.Equal(got, []string{sock}) {
		t.Fatalf("dialed %v, want [%s]", got, sock)
	}

	// A relative path under the wrong SocketDirectory finds no socket.
	e = newEnv(t, func(c *AgentConfig) { c.SocketDirectory = t.TempDir() }, nil)
	d = e.agent.Deliver(context.Background(), r, message("u@x.test"))
	if d.Recipients[0].Status != client.Deferred {
		t.Fatalf("wrong SocketDirectory: %+v", d.Recipients[0])
	}

	// No SocketDirectory: the working directory.
	t.Chdir(queueDir)
	e = newEnv(t, nil, nil)
	d = e.agent.Deliver(context.Background(), r, message("u@x.test"))
	wantRcpt(t, d.Recipients[0], client.Delivered, 250, "2.0.0", "private/lmtp", "250")
	if got := e.w.dialed(); !slices.Equal(got, []string{"private/lmtp"}) {
		t.Fatalf("dialed %v, want [private/lmtp]", got)
	}
	if n := len(p.messages()); n != 3 {
		t.Fatalf("peer got %d messages, want 3", n)
	}
}

// TLS policies come per hop; a lookup failure defers; a failed
// opportunistic handshake is retried in clear text at the same address.
func TestDeliverTLSPolicies(t *testing.T) {
	var hops []string
	e := newEnv(t, func(c *AgentConfig) {
		c.TLS = TLSPoliciesFunc(func(_ context.Context, r Route, hop Hop) (TLSPolicy, error) {
			hops = append(hops, hop.String())
			if hop.Host == "h1.test" {
				return TLSPolicy{}, errors.New("policy table unavailable")
			}
			return TLSPolicy{Level: client.TLSOpportunistic}, nil
		})
	}, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// STARTTLS offered, but the handshake cannot succeed (no certificate).
	p := &peer{}
	srv := smtp.NewServer(p)
	srv.Domain = "peer.test"
	srv.TLSConfig = &tls.Config{}
	p.addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	e.w.route("127.0.26.2:25", p.addr)

	d := e.agent.Deliver(context.Background(), smtpRoute("[h1.test] [h2.test]"), message("u@x.test"))
	wantRcpt(t, d.Recipients[0], client.Delivered, 250, "2.0.0", "h2.test", "250")
	if !slices.Equal(hops, []string{"[h1.test]", "[h2.test]"}) {
		t.Fatalf("policy asked for %v", hops)
	}
	if got := triedHosts(d); !slices.Equal(got, []string{"127.0.26.2", "127.0.26.2"}) {
		t.Fatalf("tried %v: want a clear-text retry at the same address", got)
	}
	d = e.agent.Deliver(context.Background(), smtpRoute("[h1.test]"), message("u@x.test"))
	wantRcpt(t, d.Recipients[0], client.Deferred, 451, "4.3.0", "", "TLS policy lookup for [h1.test] failed: policy table unavailable")
}

// Cancelling the context defers what is not final, and stops the delivery.
func TestDeliverCanceled(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	e.w.route("127.0.20.1:25", peertest.Script(t, "220 a.three\r\n", func(cmd string) string {
		if strings.HasPrefix(cmd, "EHLO") {
			cancel() // the caller gives up while EHLO is answered
			return "250 a.three\r\n"
		}
		return "250 ok\r\n"
	}))
	d := e.agent.Deliver(ctx, smtpRoute("three.test"), message("u@three.test"))
	if rr := d.Recipients[0]; rr.Status != client.Deferred || !errors.Is(rr.Err, context.Canceled) {
		t.Fatalf("canceled: %+v", rr)
	}
	if len(d.Tried) != 1 {
		t.Fatalf("tried %v after cancel", d.Tried)
	}
}

// A Sender that misbehaves (no result, short result) cannot lose a
// recipient: they are deferred.
func TestDeliverBrokenSender(t *testing.T) {
	_, r := newDNSServer(t)
	for _, f := range []SenderFunc{
		func(context.Context, client.Target, *client.Message) (*client.Result, error) {
			return nil, errors.New("boom")
		},
		func(_ context.Context, t client.Target, _ *client.Message) (*client.Result, error) {
			return &client.Result{Host: t.Host, Addr: t.Address}, nil
		},
	} {
		a, err := NewAgent(AgentConfig{Sender: f, Addresses: AddressConfig{Resolver: r}})
		if err != nil {
			t.Fatal(err)
		}
		d := a.Deliver(context.Background(), smtpRoute("[127.0.1.1]"), message("u@x.test", "v@x.test"))
		for _, rr := range d.Recipients {
			if rr.Status != client.Deferred || rr.Err == nil {
				t.Fatalf("%+v", rr)
			}
		}
	}
	if _, err := NewAgent(AgentConfig{Addresses: AddressConfig{Resolver: r}}); err == nil {
		t.Fatal("nil Sender accepted")
	}
	if _, err := NewAgent(AgentConfig{Sender: SenderFunc(nil)}); err == nil {
		t.Fatal("nil Resolver accepted")
	}
}
